"""What runs without a person: the daily schedule, freshness checks, the re-fill of values not yet available, lake
maintenance.
"""
