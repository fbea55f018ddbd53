-- The staged taxa ($taxa_file), one row per taxon id. A common name can exist for a taxon the taxa file lacks:
-- such a row has listed = false and no name.
COPY (
    SELECT taxon_id, t.taxon_id IS NOT NULL AS listed, t.name, t.rank, t.iconic_taxon, t.ancestor_ids,
        c.common_name
    FROM taxa t FULL JOIN common_names c USING (taxon_id)
) TO $taxa_file (FORMAT parquet, COMPRESSION zstd)
