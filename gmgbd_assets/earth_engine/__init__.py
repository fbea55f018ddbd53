"""The place from Earth Engine: NDVI, distance to water and the covariates, from one combined request per date.
"""
