-- English common names from the taxonomy archive's VernacularNames-english.csv ($file, a quoted CSV). The archive
-- lists several English names per taxon with no preferred flag: the first listed is taken.
CREATE TABLE common_names AS SELECT taxon_id, arg_min(name, line) AS common_name FROM (
    SELECT as_id(id) AS taxon_id, nullif(trim(vernacularName), '') AS name, row_number() OVER () AS line
    FROM read_csv($file, header=true, all_varchar=true, quote='"', escape='"'))
WHERE taxon_id IS NOT NULL AND name IS NOT NULL
GROUP BY taxon_id
