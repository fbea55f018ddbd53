-- One pass over photos, into $photos_file: each row finds its research-grade observation (or none, grouped under
-- NULL), and the first usable photo by position is kept; two photos at one position go to the lower photo id.
-- Position, id, extension code and licence code are packed into one HUGEINT, so min() of it is the first photo:
-- a scalar state per observation, where arg_min of strings cost a third of the step. The IN test always hashes
-- the research uuids: a join let the planner hash the photos (it underestimates a CSV), which cost half the step.
COPY (
WITH p AS (
    SELECT TRY_CAST(raw_observation_uuid AS UUID) AS u, as_id(raw_photo_id) AS photo_id,
           nullif(trim(raw_extension), '') AS extension, raw_license AS license,
           CASE WHEN photo_id BETWEEN 0 AND photo_id_limit() - 1 AND extension IS NOT NULL THEN
               least(coalesce(as_id(raw_position), position_limit() - 1), position_limit() - 1)
               * photo_id_limit() + photo_id
           END AS rank_key
    FROM read_csv($file, delim='\t', quote='', escape='', header=true, all_varchar=true, auto_detect=false,
                  columns=$columns, strict_mode=true, null_padding=false, store_rejects=true,
                  rejects_table='rejects_photos', rejects_scan='scan_photos', rejects_limit=0)
), coded AS (
    SELECT CASE WHEN u IN (SELECT u FROM research) THEN u END AS u, extension, license, rank_key,
        spelling_code(extension, $extensions) AS extension_code,
        CASE WHEN license IS NULL THEN 0 ELSE spelling_code(license, $licenses) END AS license_code,
        (rank_key::HUGEINT << 16) | (extension_code << 8) | license_code AS key
    FROM p
), firsts AS (
    SELECT u, min(key) AS key, count(*) AS photos, count(*) FILTER (WHERE rank_key IS NULL) AS unusable,
        -- Keyed on NULL for the usual spellings, so arg_min only stores the rare others (FILTER cost 3x).
        arg_min(extension, CASE WHEN extension_code = 255 THEN rank_key END) AS other_extension,
        arg_min(license, CASE WHEN license_code = 255 THEN rank_key END) AS other_license
    FROM coded
    GROUP BY u
)
-- Shifts and masks: HUGEINT division and modulo cost more than the whole aggregation. The codes stay codes
-- (decoded when a date is read) and a spelling of another kind is kept only where it is the one chosen.
SELECT u, ((key >> 16) & (photo_id_limit() - 1))::BIGINT AS photo_id,
    ((key >> 8) & 255)::UTINYINT AS extension_code, (key & 255)::UTINYINT AS license_code,
    CASE WHEN extension_code = 255 THEN other_extension END AS extension_other,
    CASE WHEN license_code = 255 THEN other_license END AS license_other,
    photos, unusable
FROM firsts
) TO $photos_file (FORMAT parquet, COMPRESSION zstd)
