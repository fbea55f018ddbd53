-- One pass over the observations file, into compressed Parquet ($typed_file): a row that is not research grade
-- costs a flag there (a table would hold every NULL column uncompressed), and reading the file a second time to
-- count it cost a quarter of the observations' time. Bad lines go to rejects_observations.
COPY (
    WITH flagged AS (
        SELECT raw_observation_uuid, raw_observer_id, raw_latitude, raw_longitude, raw_positional_accuracy,
            raw_taxon_id, raw_observed_on, raw_quality_grade IS NOT DISTINCT FROM 'research' AS research
        FROM read_csv($file, delim='\t', quote='', escape='', header=true, all_varchar=true, auto_detect=false,
                      columns=$columns, strict_mode=true, null_padding=false, store_rejects=true,
                      rejects_table='rejects_observations', rejects_scan='scan_observations', rejects_limit=0)
    ), typed AS (
        SELECT research,
            CASE WHEN research THEN TRY_CAST(raw_observation_uuid AS UUID) END AS u,
            CASE WHEN research THEN as_id(raw_observer_id) END AS observer_id,
            CASE WHEN research THEN TRY_CAST(raw_latitude AS DOUBLE) END AS latitude,
            CASE WHEN research THEN TRY_CAST(raw_longitude AS DOUBLE) END AS longitude,
            CASE WHEN research THEN TRY_CAST(raw_positional_accuracy AS DOUBLE) END AS positional_accuracy_m,
            CASE WHEN research THEN as_id(raw_taxon_id) END AS taxon_id,
            CASE WHEN research THEN TRY_CAST(raw_observed_on AS DATE) END AS sighting_date,
            raw_latitude, raw_longitude, raw_positional_accuracy, raw_taxon_id, raw_observation_uuid,
            raw_observed_on
        FROM flagged
    )
    SELECT research, u, observer_id, latitude, longitude,
        CASE
            WHEN NOT research THEN NULL
            WHEN raw_latitude IS NULL OR raw_longitude IS NULL THEN $no_coordinates
            WHEN latitude IS NULL OR longitude IS NULL OR NOT isfinite(latitude) OR NOT isfinite(longitude)
                 OR latitude NOT BETWEEN -90 AND 90 OR longitude NOT BETWEEN -180 AND 180
            THEN $invalid_coordinates
        END AS coord_problem,
        CASE WHEN coord_problem IS NOT NULL THEN 'latitude=' || coalesce(quoted_start(raw_latitude), 'empty')
             || ' longitude=' || coalesce(quoted_start(raw_longitude), 'empty') END AS coord_detail,
        positional_accuracy_m,
        research AND raw_positional_accuracy IS NOT NULL AND positional_accuracy_m IS NULL AS bad_accuracy,
        research AND raw_taxon_id IS NULL AS taxon_empty,
        -- The text only where it is not an id, for the detail; an id is all the later steps need.
        CASE WHEN research AND taxon_id IS NULL THEN raw_taxon_id END AS taxon_text, taxon_id, sighting_date,
        CASE WHEN research AND sighting_date IS NULL THEN coalesce(raw_observation_uuid, '')
             || ': observed_on=' || coalesce(quoted_start(raw_observed_on), 'empty') END AS undated_example
    FROM typed
) TO $typed_file (FORMAT parquet, COMPRESSION zstd)
