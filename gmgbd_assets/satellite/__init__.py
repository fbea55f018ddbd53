"""Satellite context per record: a Sentinel-2 L2A chip from a STAC API around each sighting."""
