-- One date's staged observations ($day, from its month's files $month_files), one per uuid, in uuid order, at
-- most $limit (NULL: all), with the names and logins joined in from the staged taxa and observers. The date's
-- rows are found first, then their names: the join reads the staged taxa and observers once per date. The photo's
-- extension and licence codes are decoded with the lists they were coded with ($extensions, $licenses).
WITH day AS (
    SELECT * FROM read_parquet($month_files)
    WHERE sighting_date = $day
    QUALIFY row_number() OVER (PARTITION BY observation_uuid ORDER BY photo_id NULLS LAST) = 1
    ORDER BY observation_uuid
    LIMIT $limit
)
SELECT d.observation_uuid::VARCHAR AS observation_uuid, d.latitude, d.longitude, d.positional_accuracy_m,
    CASE WHEN d.taxon_ok THEN t.name END AS scientific_name, t.common_name, d.taxon_id, t.rank AS taxon_rank,
    t.iconic_taxon, CASE WHEN d.taxon_ok THEN t.ancestor_ids END AS taxon_ancestor_ids, d.photo_id,
    CASE WHEN d.extension_code = 255 THEN d.extension_other ELSE $extensions[d.extension_code] END AS extension,
    CASE WHEN d.license_code = 255 THEN d.license_other ELSE $licenses[d.license_code] END AS license,
    o.login, o.name AS observer_name, d.invalid_reason, d.invalid_detail
FROM day d
LEFT JOIN read_parquet($taxa_file) t ON t.taxon_id = d.taxon_id
LEFT JOIN read_parquet($observers_file) o ON o.observer_id = d.observer_id
ORDER BY d.observation_uuid
