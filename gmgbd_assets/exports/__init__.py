"""What researchers download: CSV, Parquet and WebDataset per date, the dataset card, Croissant metadata and the
build history.
"""
