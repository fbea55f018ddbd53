-- The research-grade observations with a uuid and a date. A view over the typed Parquet, not a table: held in
-- memory uncompressed, it made DuckDB spill to disk. A view cannot hold a parameter, so the file is the
-- connection's variable typed_file.
CREATE VIEW research AS
SELECT u, observer_id, latitude, longitude, coord_problem, coord_detail, positional_accuracy_m,
    bad_accuracy, taxon_empty, taxon_text, taxon_id, sighting_date
FROM read_parquet(getvariable('typed_file'))
WHERE research AND u IS NOT NULL AND sighting_date IS NOT NULL
