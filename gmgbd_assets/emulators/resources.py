"""The offline profile's resources: each live resource with its requests sent to the in-process emulators.

A subclass per service overrides only where requests go (``transport`` / ``backend``), that request slots are
counted in the process (a demo must never spend the real service's daily budget) and that every value it yields
is labelled ``emulated:<live label>``. Everything else, retries and parsing included, is the live code.
``definitions.RESOURCES_BY_PROFILE`` picks these or the live classes.
"""

from __future__ import annotations

import httpx

from gmgbd_assets.core.http import ServiceResource
from gmgbd_assets.core.provenance import emulated
from gmgbd_assets.earth_engine.resource import Backend, EarthEngineResource
from gmgbd_assets.emulators.earth_engine import offline_sampler
from gmgbd_assets.emulators.router import offline_transport
from gmgbd_assets.geocodes.geocoder import NominatimGeocoderResource
from gmgbd_assets.media.photos import PhotosResource
from gmgbd_assets.observations.inaturalist import INaturalistResource
from gmgbd_assets.observations.sources import OpenDataObservationSource
from gmgbd_assets.weather.open_meteo import OpenMeteoResource


class EmulatedService(ServiceResource):
    """An HTTP service answered by the emulated internet, with injected faults and latency."""

    emulator_fault_rate: float = 0.0
    emulator_seed: int = 0
    emulator_latency_s: float = 0.0

    def transport(self) -> httpx.BaseTransport | None:
        return offline_transport(self.emulator_fault_rate, self.emulator_seed, self.emulator_latency_s)

    @property
    def limits_dir(self) -> str | None:
        return None

    def provenance(self, label: str) -> str:
        return emulated(label)


class EmulatedINaturalistResource(EmulatedService, INaturalistResource):
    """iNaturalist's API serving the bundled sample (``GMGBD_SAMPLE_DIR``)."""


class EmulatedOpenDataObservationSource(OpenDataObservationSource):
    """The open-data export of the offline profile: by default the bundled sample (``data/sample/open_data/``),
    made for this project from the same records as the API sample, so its records are labelled emulated."""

    def provenance(self, label: str) -> str:
        return emulated(label)


class EmulatedPhotosResource(EmulatedService, PhotosResource):
    """iNaturalist's photo hosts serving the sample's JPEGs."""


class EmulatedNominatimGeocoderResource(EmulatedService, NominatimGeocoderResource):
    """Nominatim answered by its emulator (the embedded offline geocoder asks no service: it is the same in both
    profiles, and its places are real data)."""


class EmulatedOpenMeteoResource(EmulatedService, OpenMeteoResource):
    """Open-Meteo's archive and elevation APIs answered by deterministic functions of place and date."""


class EmulatedEarthEngineResource(EarthEngineResource):
    """Earth Engine answered by the deterministic offline sampler (no credentials, no network)."""

    emulator_fault_rate: float = 0.0
    emulator_seed: int = 0

    def backend(self) -> Backend:
        return offline_sampler(self.emulator_fault_rate, self.emulator_seed)

    def provenance(self, label: str) -> str:
        return emulated(label)
