"""The exports feature: the files, the card and the Croissant metadata."""

from gmgbd_assets.core.features import Feature
from gmgbd_assets.exports.card import dataset_card
from gmgbd_assets.exports.croissant import croissant
from gmgbd_assets.exports.formats import export_csv, export_parquet, export_webdataset

FEATURE = Feature("exports", assets=[export_csv, export_parquet, export_webdataset, dataset_card, croissant])
