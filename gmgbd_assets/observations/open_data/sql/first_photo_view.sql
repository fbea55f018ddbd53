-- Each research-grade observation's first usable photo (u NULL: the photos of no staged observation). A view over
-- the Parquet for the reason the research view is one; the file is the connection's variable photos_file.
CREATE VIEW first_photo AS SELECT * FROM read_parquet(getvariable('photos_file'))
