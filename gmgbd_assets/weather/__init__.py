"""That day's mean temperature at the point, from Open-Meteo or ERA5-Land in Earth Engine.
"""
