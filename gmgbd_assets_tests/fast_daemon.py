"""``dagster-daemon`` with a 1 s backfill loop instead of 30 s, for the browser test only.

The backfill daemon sleeps ``DEFAULT_DAEMON_INTERVAL_SECONDS`` (30 s, not configurable in dagster.yaml) between
iterations, and a backfill needs two of them (launch the run, then see it finished): up to a minute of waiting
per test run. This changes only how often the daemon polls, not what it does. Run as
``python -m gmgbd_assets_tests.fast_daemon run -m gmgbd_assets``.
"""

import sys

import dagster._daemon.controller as controller
from dagster._daemon.cli import main

controller.DEFAULT_DAEMON_INTERVAL_SECONDS = 1

if __name__ == "__main__":
    sys.exit(main())
