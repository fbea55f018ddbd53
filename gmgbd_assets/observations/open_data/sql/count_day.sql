-- How many distinct observations the staged month's files ($month_files) hold on $day.
SELECT count(DISTINCT observation_uuid) AS available FROM read_parquet($month_files) WHERE sighting_date = $day
