"""The ``geocoder`` resource: one interface, two sibling classes; ``definitions.py`` picks one by ``GMGBD_GEOCODER``.

``OfflineGeocoderResource`` (``offline``, default) answers from embedded Natural Earth + GeoNames data with no
network at all, the same in both profiles; ``NominatimGeocoderResource`` (``nominatim``) asks a Nominatim server
(public: one request a second, every answer cached in DuckDB). ``geocodes`` reads through
:class:`GeocoderResource` without knowing which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagster as dg

from gmgbd_assets.core.duckdb_store import TableStore
from gmgbd_assets.core.http import ServiceHttp, ServicePolicy, ServiceResource
from gmgbd_assets.geocodes.nominatim import NominatimClient
from gmgbd_assets.geocodes.offline_geocoder import GeoAddress, offline_geocoder

OFFLINE = "offline"
NOMINATIM = "nominatim"
PUBLIC_NOMINATIM_HOST = "nominatim.openstreetmap.org"


class GeocodeBatch:
    """What one batch of lookups returned, plus the numbers worth reporting."""

    def __init__(self, addresses: list[GeoAddress], label: str, requests: int = 0, cache_hits: int = 0) -> None:
        self.addresses = addresses
        self.label = label
        self.requests = requests
        self.cache_hits = cache_hits


class GeocoderResource(dg.ConfigurableResource):
    """The interface ``geocodes`` reads through: addresses for a batch of points, and who answered."""

    @property
    def setting(self) -> str:
        """This geocoder's ``GMGBD_GEOCODER`` value: what a run that geocoded nothing reports."""
        raise NotImplementedError

    def reverse(
        self,
        store: TableStore,
        points: Sequence[tuple[float, float]],
        log: Callable[[str], None] | None = None,
    ) -> GeocodeBatch:
        """The address of every point, in input order. ``store``: where a geocoder that caches keeps its answers."""
        raise NotImplementedError


class OfflineGeocoderResource(GeocoderResource):
    """Natural Earth country polygons and the nearest GeoNames places, embedded: no request, no rate limit."""

    @property
    def setting(self) -> str:
        return OFFLINE

    def reverse(
        self,
        store: TableStore,
        points: Sequence[tuple[float, float]],
        log: Callable[[str], None] | None = None,
    ) -> GeocodeBatch:
        geocoder = offline_geocoder()
        addresses = geocoder.lookup_many([p[0] for p in points], [p[1] for p in points])
        return GeocodeBatch(addresses, geocoder.version)


class NominatimGeocoderResource(ServiceResource, GeocoderResource):
    """A Nominatim server's reverse geocoding (OpenStreetMap addresses), spaced as its usage policy asks."""

    nominatim_url: str = "https://nominatim.openstreetmap.org"
    # The public server's absolute maximum is 1/s; a self-hosted server may go faster.
    min_interval_s: float = 1.0
    cache_decimals: int = 3
    max_attempts: int = 6
    backoff_base_s: float = 1.0

    @property
    def setting(self) -> str:
        return NOMINATIM

    def reverse(
        self,
        store: TableStore,
        points: Sequence[tuple[float, float]],
        log: Callable[[str], None] | None = None,
    ) -> GeocodeBatch:
        client = self.nominatim_client(store, log)
        try:
            addresses = client.reverse_many(points, log=log)
        finally:
            client.close()
        return GeocodeBatch(addresses, self.provenance(client.label), client.requests, client.cache_hits)

    def nominatim_client(self, store: TableStore, log: Callable[[str], None] | None = None) -> NominatimClient:
        interval = self.min_interval_s
        if PUBLIC_NOMINATIM_HOST in self.nominatim_url and self.transport() is None:
            interval = max(interval, 1.0)  # the public usage policy is not negotiable
            if not self.contact:
                raise dg.Failure("the public Nominatim server needs GMGBD_CONTACT (an e-mail) to identify you")
        transport = self.transport()
        http = ServiceHttp(
            ServicePolicy(
                name="nominatim",
                shared_state_dir=self.rate_limit_dir,
                min_interval_s=interval,
                max_attempts=self.max_attempts,
                backoff_base_s=self.backoff_base_s,
            ),
            transport=transport,
            contact=self.contact,
            log=log,
        )
        return NominatimClient(http, self.nominatim_url, self.contact, store, self.cache_decimals)
