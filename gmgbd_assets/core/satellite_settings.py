"""The satellite context's settings (``GMGBD_SATELLITE_EMBEDDING``, ``GMGBD_S2_*``), read once into
``Settings.satellite``.

Defaults: the satellite embedding sampled in the Earth Engine request; a 64 x 64 px chip at 10 m (640 m square)
from the least-cloudy Sentinel-2 L2A scene within 30 days of the sighting, searched on Microsoft Planetary
Computer's STAC API (any STAC API by URL). ``gmgbd_assets/satellite/``
and ``gmgbd_assets/earth_engine/embedding.py`` are what use them; docs/configuration.md lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PLANETARY_COMPUTER_STAC_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
SENTINEL_2_L2A = "sentinel-2-l2a"
_SWITCH = {"on": True, "off": False}


@dataclass(frozen=True)
class S2Config:
    """``embedding``: whether the satellite embedding is sampled (off: no embedding part in the Earth Engine
    request, every row says ``embedding_off``). ``chips``: whether chips are read at all (off: every row says
    ``s2_chips_off``, no request is sent).
    ``chip_px``: the side in 10 m pixels; ``window_days``: scenes within +/- that many days of the sighting;
    ``cloud_limit``: scenes with more than this scene-wide cloud cover (%) are not searched for;
    ``min_clear``: the least share of clear pixels (SCL 4, 5, 6, 11) a chip needs to be stored.
    ``sign``: sign asset URLs with Planetary Computer SAS tokens (on by default for its URL only)."""

    embedding: bool = True
    chips: bool = True
    chip_px: int = 64
    window_days: int = 30
    cloud_limit: float = 60.0
    min_clear: float = 0.5
    stac_url: str = PLANETARY_COMPUTER_STAC_URL
    collection: str = SENTINEL_2_L2A
    sign: bool = True

    @classmethod
    def from_env(cls) -> S2Config:
        url = _env("GMGBD_S2_STAC_URL", PLANETARY_COMPUTER_STAC_URL).rstrip("/")
        config = cls(
            embedding=_switch("GMGBD_SATELLITE_EMBEDDING", "on"),
            chips=_switch("GMGBD_S2_CHIPS", "on"),
            chip_px=int(_env("GMGBD_S2_CHIP_PX", "64")),
            window_days=int(_env("GMGBD_S2_WINDOW_DAYS", "30")),
            cloud_limit=float(_env("GMGBD_S2_CLOUD_LIMIT", "60")),
            min_clear=float(_env("GMGBD_S2_MIN_CLEAR", "0.5")),
            stac_url=url,
            collection=_env("GMGBD_S2_COLLECTION", SENTINEL_2_L2A),
            sign=_switch("GMGBD_S2_SIGN", "on" if url == PLANETARY_COMPUTER_STAC_URL else "off"),
        )
        config.validate()
        return config

    def validate(self) -> None:
        if not 8 <= self.chip_px <= 1024 or self.chip_px % 2:
            raise ValueError(f"GMGBD_S2_CHIP_PX must be an even number of pixels in 8..1024, not {self.chip_px}")
        if not 0 <= self.window_days <= 365:
            raise ValueError(f"GMGBD_S2_WINDOW_DAYS must be in 0..365, not {self.window_days}")
        if not 0 <= self.cloud_limit <= 100:
            raise ValueError(f"GMGBD_S2_CLOUD_LIMIT must be a percentage in 0..100, not {self.cloud_limit}")
        if not 0 <= self.min_clear <= 1:
            raise ValueError(f"GMGBD_S2_MIN_CLEAR must be a share in 0..1, not {self.min_clear}")


def _switch(name: str, default: str) -> bool:
    value = _env(name, default).lower()
    if value not in _SWITCH:
        raise ValueError(f"{name} must be 'on' or 'off', not {value!r}")
    return _SWITCH[value]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default
