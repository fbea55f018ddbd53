"""What "now" is for the timestamps the exports carry: the clock in a build, the release manifest's in a rebuild.

Four values in the exports come from the time of the build: ``gmgbd.built_at`` and ``splits.built_at`` (columns
of the Parquet and WebDataset files), the card's "Generated ... at" line and the Croissant ``datePublished``
(plus the Darwin Core Archive's and the citation's dates, written with the release). A rebuild that took them from
the clock could never be byte-identical, so each asset asks this resource: empty ``times`` (every build) answers
the clock; the rebuild CLI passes the times the manifest recorded, by asset and, for a date-partitioned asset,
by the first date of the run's window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg


def parse_utc(value: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; a time written without a zone is UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class ReleaseClockResource(dg.ConfigurableResource):
    """``times``: ISO 8601 UTC times by ``asset`` or ``asset/YYYY-MM-DD`` (a date-partitioned asset's window start);
    a key not there is the clock's time now."""

    times: dict[str, str] = {}

    def now(self, asset: str, day: date | None = None) -> datetime:
        """The aware UTC time ``asset`` (for the window starting on ``day``) stamps on what it writes."""
        fixed = self.times.get(f"{asset}/{day.isoformat()}") if day is not None else None
        fixed = fixed or self.times.get(asset)
        return parse_utc(fixed) if fixed else datetime.now(UTC)
