"""The releases feature: the manifest that makes a build a citable, rebuildable release."""

from gmgbd_assets.core.features import Feature
from gmgbd_assets.releases.assets import citation_files, darwin_core_archive, release_diff, release_manifest

FEATURE = Feature("releases", assets=[release_diff, darwin_core_archive, citation_files, release_manifest])
