-- The staged observations ($staged_dir): every research-grade, dated observation with its first photo's codes and
-- its reasons, one sighting_month=YYYYMM folder per month. Names and logins stay in the staged taxa and observers:
-- writing them into each record cost more than half of this step. The month is an integer: formatting it as text
-- for every row cost a tenth of the step.
COPY (
    WITH joined AS (
        SELECT r.*, p.photo_id, p.extension_code, p.license_code, p.extension_other, p.license_other,
            p.photos, t.taxon_id AS known_taxon, t.name,
            CASE WHEN r.taxon_empty THEN $no_taxon
                 WHEN r.taxon_id IS NULL THEN $invalid_taxon
                 WHEN t.taxon_id IS NULL THEN $taxon_not_in_export
                 WHEN t.name IS NULL THEN $no_taxon
                 WHEN NOT t.name_ok THEN $invalid_taxon END AS taxon_problem,
            CASE WHEN p.photo_id IS NULL THEN $no_photo END AS photo_problem
        FROM research r
        LEFT JOIN first_photo p ON p.u = r.u
        LEFT JOIN taxa t ON t.taxon_id = r.taxon_id
    ), explained AS (
        SELECT *,
            CASE WHEN taxon_problem IS NULL THEN NULL
                 WHEN taxon_empty THEN 'taxon_id empty'
                 WHEN taxon_id IS NULL THEN 'taxon_id=' || quoted_start(taxon_text) || ' is not an id'
                 WHEN known_taxon IS NULL THEN 'taxon ' || taxon_id || ' is not in the taxa file'
                 WHEN name IS NULL THEN 'taxon ' || taxon_id || ' has no name'
                 ELSE 'name is not a name: ' || length(name) || ' chars, ' || quoted_start(name)
            END AS taxon_detail,
            CASE WHEN photo_problem IS NOT NULL THEN
                CASE WHEN photos IS NULL THEN 'no row in the photos file'
                     ELSE photos || ' photo row(s), none with a usable photo_id and extension' END
            END AS photo_detail
        FROM joined
    )
    SELECT u AS observation_uuid, sighting_date,
        (year(sighting_date) * 100 + month(sighting_date))::INTEGER AS sighting_month,
        latitude, longitude, positional_accuracy_m, taxon_id, taxon_problem IS NULL AS taxon_ok, observer_id,
        photo_id, extension_code, license_code, extension_other, license_other,
        -- As the API source words it: the first problem's code; one problem's text, or all as code: text.
        coalesce(coord_problem, taxon_problem, photo_problem) AS invalid_reason,
        CASE WHEN (coord_problem IS NOT NULL)::INT + (taxon_problem IS NOT NULL)::INT
                  + (photo_problem IS NOT NULL)::INT > 1
             THEN concat_ws('; ', coord_problem || ': ' || coord_detail, taxon_problem || ': ' || taxon_detail,
                            photo_problem || ': ' || photo_detail)
             ELSE coalesce(coord_detail, taxon_detail, photo_detail) END AS invalid_detail
    FROM explained
) TO $staged_dir (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (sighting_month))
