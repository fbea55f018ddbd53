-- Every count a SnapshotInfo holds, in one row, over the staging's tables and the staged observations ($staged,
-- the glob of every month's files).
WITH staged AS (SELECT * FROM read_parquet($staged))
SELECT
    (SELECT observations FROM obs_counts) AS observations,
    (SELECT sum(photos) FROM first_photo) AS photos,
    (SELECT count(*) FROM taxa) AS taxa,
    (SELECT count(*) FROM observers) AS observers,
    (SELECT observations - research_grade FROM obs_counts) AS not_research_grade,
    (SELECT undated FROM obs_counts) AS undated,
    -- The research view holds the research-grade rows with a date and a uuid: the rest had no usable uuid.
    (SELECT research_grade - undated - (SELECT count(*) FROM research) FROM obs_counts) AS invalid_uuid,
    (SELECT count(*) - count(DISTINCT u) FROM research) AS duplicate_uuids,
    (SELECT count(*) FROM research WHERE bad_accuracy) AS unparseable_positional_accuracy,
    (SELECT count(*) FROM staged s LEFT JOIN observers o USING (observer_id) WHERE o.login IS NULL)
        AS observer_not_in_export,
    (SELECT sum(unusable) FROM first_photo) AS photos_unusable,
    (SELECT sum(photos) FROM first_photo WHERE u IS NULL) AS photos_not_staged,
    (SELECT sum(duplicates) FROM taxa) AS duplicate_taxon_ids,
    (SELECT sum(duplicates) FROM observers) AS duplicate_observer_ids,
    (SELECT count(*) FROM staged) AS staged_rows,
    (SELECT count(*) FROM common_names) AS common_names,
    (SELECT undated_examples FROM obs_counts) AS undated_examples,
    (SELECT list({'reason': invalid_reason, 'n': n} ORDER BY invalid_reason) FROM (
        SELECT invalid_reason, count(*) AS n FROM staged WHERE invalid_reason IS NOT NULL GROUP BY ALL))
        AS reasons
