-- The staged observers ($observers_file), one row per observer id.
COPY (SELECT observer_id, login, name FROM observers) TO $observers_file (FORMAT parquet, COMPRESSION zstd)
