"""Photo licences: the codes iNaturalist uses and the export filter built from ``GMGBD_EXPORT_LICENSES``."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# iNaturalist's photo licence codes. A photo with no code is "all rights reserved". Any other code is refused where
# a record comes in (edge_validation: unknown_license), so no stored licence is outside this list.
KNOWN = ("cc0", "pd", "cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd", "gfdl")
# Licences that allow reuse, modification and redistribution for any purpose (the Open Definition):
# the photos a model can be trained on and shipped with no further question.
OPEN = ("cc0", "pd", "cc-by", "cc-by-sa")
# The filter token for photos with no licence code.
ALL_RIGHTS_RESERVED = "all-rights-reserved"


@dataclass(frozen=True)
class LicenseFilter:
    """Which photos may be exported. ``allowed`` is None for "every photo"."""

    allowed: tuple[str, ...] | None

    @classmethod
    def parse(cls, text: str) -> LicenseFilter:
        """``all`` (default), ``open`` (cc0, pd, cc-by, cc-by-sa) or a comma-separated list of codes."""
        value = text.strip().lower()
        if value in ("", "all"):
            return cls(None)
        if value == "open":
            return cls(OPEN)
        codes = tuple(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))
        unknown = [c for c in codes if c not in (*KNOWN, ALL_RIGHTS_RESERVED)]
        if unknown or not codes:
            raise ValueError(
                f"GMGBD_EXPORT_LICENSES: unknown licence code(s) {unknown or [text]}; use 'all', 'open' or a "
                f"comma-separated list of {', '.join((*KNOWN, ALL_RIGHTS_RESERVED))}"
            )
        return cls(codes)

    @property
    def description(self) -> str:
        if self.allowed is None:
            return "all (every photo, whatever its licence)"
        if self.allowed == OPEN:
            return f"open ({', '.join(OPEN)})"
        return ", ".join(self.allowed)

    def allows(self, code: str | None) -> bool:
        if self.allowed is None:
            return True
        return (code.lower() if code else ALL_RIGHTS_RESERVED) in self.allowed

    def to_setting(self) -> str:
        return "all" if self.allowed is None else ",".join(self.allowed)


def polars_mask(license_filter: LicenseFilter, column: str = "photo_license") -> pl.Expr:
    """True for the rows whose photo the filter lets through."""
    if license_filter.allowed is None:
        return pl.lit(True)
    code = pl.col(column).str.to_lowercase().fill_null(ALL_RIGHTS_RESERVED)
    return code.is_in(list(license_filter.allowed))
