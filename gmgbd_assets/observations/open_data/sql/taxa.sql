-- The taxa file, one row per taxon id (the first line of each; the others counted as duplicates).
-- The files join ancestry with '/'; iNaturalist's column notes say a backslash, so either is read.
CREATE TABLE taxa AS
WITH raw AS (
    SELECT raw_taxon_id, raw_name, raw_rank,
        string_split(replace(coalesce(raw_ancestry, ''), chr(92), '/') || '/' || raw_taxon_id, '/') AS ancestry
    FROM read_csv($file, delim='\t', quote='', escape='', header=true, all_varchar=true, auto_detect=false,
                  columns=$columns, strict_mode=true, null_padding=false, store_rejects=true,
                  rejects_table='rejects_taxa', rejects_scan='scan_taxa', rejects_limit=0)
)
SELECT as_id(raw_taxon_id) AS taxon_id, raw_name AS name, raw_rank AS rank,
    -- Root first, ending with the taxon, like the API's ancestor_ids; NULL when a part is not an id.
    CASE WHEN list_bool_and(list_transform(list_filter(ancestry, lambda x: x <> ''),
                                           lambda x: TRY_CAST(x AS BIGINT) IS NOT NULL))
         THEN array_to_string(list_filter(ancestry, lambda x: x <> ''), '/') END AS ancestor_ids,
    -- A first cut of edge_validation.plausible_name (too long, C0 controls); the full test runs on read.
    length(raw_name) <= $max_name_length AND NOT regexp_matches(raw_name, '[\x00-\x1f\x7f]') AS name_ok,
    iconic_taxon_name(list_reverse(list_filter(list_transform(ancestry, lambda x: TRY_CAST(x AS BIGINT)),
                                               lambda x: list_contains(iconic_taxon_ids(), x)))[1]) AS iconic_taxon,
    count(*) OVER (PARTITION BY taxon_id) - 1 AS duplicates
FROM raw
WHERE taxon_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY taxon_id) = 1
