"""``python -m gmgbd_assets.refill_cli``: the dates that hold not_yet_available or provisional values, and the
``dg launch`` commands that re-fill them (what the refill sensor requests, for runs without the
daemon)."""

from __future__ import annotations

import sys

from gmgbd_assets.automation.refill import refill_commands
from gmgbd_assets.definitions import defs


def main() -> int:
    lines = refill_commands(defs)
    print("\n".join(lines) if lines else "Nothing to re-fill: no rows with missing_reason = 'not_yet_available'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
