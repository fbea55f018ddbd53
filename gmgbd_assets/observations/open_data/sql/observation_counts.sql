-- Rows read, research grade, and research grade without a date (with the first few as examples), from the
-- typed observations.
CREATE TABLE obs_counts AS
SELECT count(*) AS observations, count(*) FILTER (WHERE research) AS research_grade,
    count(*) FILTER (WHERE research AND sighting_date IS NULL) AS undated,
    list(undated_example) FILTER (WHERE undated_example IS NOT NULL)[1:5] AS undated_examples
FROM read_parquet($typed_file)
