"""Where the photo was taken, in words: country, state and city from Nominatim or the offline geocoder.
"""
