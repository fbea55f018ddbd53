"""Test-suite settings that must be in place before ``gmgbd_assets`` is imported (pytest imports this first).

``GMGBD_SETTLE_DAYS=1``: every date up to yesterday is a partition, so tests can build recent dates (e.g. a weather
date the archive does not have yet). The default lag (7) is tested explicitly in ``test_automation.py``.
"""

import os

os.environ.setdefault("GMGBD_SETTLE_DAYS", "1")
