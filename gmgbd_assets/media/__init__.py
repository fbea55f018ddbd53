"""What the photo shows: the photos downloaded and stripped of location metadata, and their BLIP captions.
"""
