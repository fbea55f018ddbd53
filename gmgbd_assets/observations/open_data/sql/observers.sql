-- The observers file, one row per observer id (the first line of each; the others counted as duplicates). A
-- header without a name column reads every name as NULL: the empty first half of the union supplies the column.
CREATE TABLE observers AS
WITH raw AS (
    SELECT NULL::VARCHAR AS raw_name WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_csv($file, delim='\t', quote='', escape='', header=true, all_varchar=true,
                           auto_detect=false, columns=$columns, strict_mode=true, null_padding=false,
                           store_rejects=true, rejects_table='rejects_observers', rejects_scan='scan_observers',
                           rejects_limit=0)
)
SELECT as_id(raw_observer_id) AS observer_id, raw_login AS login, raw_name AS name,
    count(*) OVER (PARTITION BY observer_id) - 1 AS duplicates
FROM raw
WHERE observer_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY observer_id) = 1
