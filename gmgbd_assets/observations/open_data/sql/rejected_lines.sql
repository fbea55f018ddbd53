-- Per table, the lines read_csv could not split into the header's columns: how many, and the first five.
WITH rejected AS (
    SELECT 1 AS t, 'observations' AS table_name, * FROM rejects_observations
    UNION ALL SELECT 2, 'photos', * FROM rejects_photos
    UNION ALL SELECT 3, 'taxa', * FROM rejects_taxa
    UNION ALL SELECT 4, 'observers', * FROM rejects_observers
), lines AS (
    SELECT t, table_name, line, any_value(error_type) AS error, any_value(csv_line) AS text
    FROM rejected
    GROUP BY t, table_name, file_id, line
)
SELECT table_name, count(*) AS rejected,
    list({'line': line, 'error': error, 'text': text} ORDER BY line)[1:5] AS examples
FROM lines
GROUP BY t, table_name
ORDER BY t
