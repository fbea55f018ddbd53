"""The place from Earth Engine: NDVI, distance to water and the covariates, three tables written from one combined
request per date and chunk (``assets.earth_engine_point_layers``)."""
