"""Where the records come from: the iNaturalist API and the open-data export as one observation source, the edge
validation of their text, and the taxonomy.
"""
