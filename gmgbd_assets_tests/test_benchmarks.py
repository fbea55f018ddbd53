"""The benchmark machinery: per-host latency and one shared emulated internet, the virtual clock, the published
limits held in front of the emulators, a smoke run of the request benchmark on a tiny sample, and the page each
benchmark writes its figures into (``benchmarks/report.py``). Tiny test runs never write ``docs/benchmarks.md``:
every test here points ``GMGBD_BENCHMARKS_DOC`` at a temporary file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from benchmarks import earth_engine, release_update, report, scale
from benchmarks.emulated import LATENCY_S, Services, VirtualClock, write_sample
from benchmarks.service_calls import benchmark, markdown_table
from gmgbd_assets.emulators import router
from gmgbd_assets.emulators.faults import FaultInjector
from gmgbd_assets.emulators.inaturalist import API_HOST
from gmgbd_assets.emulators.nominatim import HOST as NOMINATIM_HOST
from gmgbd_assets.emulators.resources import EmulatedNominatimGeocoderResource
from gmgbd_assets.geocodes.offline_geocoder import offline_geocoder

BENCHMARKS_DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


@pytest.fixture(autouse=True)
def benchmarks_doc(tmp_path: Path, monkeypatch) -> Path:
    """Every benchmark run in these tests writes its section here, never into docs/benchmarks.md."""
    path = tmp_path / "benchmarks.md"
    monkeypatch.setenv(report.ENV_VAR, str(path))
    return path


def test_router_sleeps_each_hosts_latency_and_counts() -> None:
    slept: list[float] = []
    internet = router.EmulatedInternet(
        {"a.example": lambda r: httpx.Response(200), "b.example": lambda r: httpx.Response(204)},
        FaultInjector(),
        {"a.example": 0.25},
        slept.append,
    )
    with httpx.Client(transport=httpx.MockTransport(internet)) as client:
        assert client.get("https://a.example/x").status_code == 200
        assert client.get("https://b.example/y").status_code == 204
        assert client.get("https://a.example/z").status_code == 200
    assert slept == [0.25, 0.25]  # b.example has no latency set
    assert internet.requests_by_host == {"a.example": 2, "b.example": 1}


def test_serving_routes_every_resource_to_one_internet_and_restores() -> None:
    shared = router.emulated_internet()
    resource = EmulatedNominatimGeocoderResource()
    with router.serving(shared):
        with httpx.Client(transport=resource.transport()) as client:
            client.get(f"https://{NOMINATIM_HOST}/reverse", params={"lat": 51.5, "lon": -0.12, "format": "jsonv2"})
        with httpx.Client(transport=resource.transport()) as client:
            client.get(f"https://{NOMINATIM_HOST}/reverse", params={"lat": 48.8, "lon": 2.35, "format": "jsonv2"})
    assert shared.requests_by_host == {NOMINATIM_HOST: 2}
    assert router._serving is None
    after = resource.transport()
    assert isinstance(after, httpx.MockTransport)
    assert after.handler is not shared  # a fresh emulated internet again outside the block


def test_virtual_clock_sleeps_instantly() -> None:
    clock = VirtualClock()
    started = time.monotonic()
    before = clock.monotonic()
    clock.sleep(3600.0)
    assert clock.monotonic() - before >= 3600.0
    assert time.monotonic() - started < 1.0
    assert clock.slept == 3600.0


def test_services_hold_requests_to_the_published_rate_and_add_latency(tmp_path: Path, monkeypatch) -> None:
    write_sample(tmp_path / "sample", 4, per_day=4)
    monkeypatch.setenv("GMGBD_SAMPLE_DIR", str(tmp_path / "sample"))
    offline_geocoder()  # its first load (seconds of real compute) would otherwise count on the virtual clock
    services = Services(VirtualClock())
    with httpx.Client(transport=httpx.MockTransport(services.internet)) as client:
        for lat in (51.5, 48.8, 52.5):  # back to back: the 1/s limit holds the 2nd and 3rd
            client.get(f"https://{NOMINATIM_HOST}/reverse", params={"lat": lat, "lon": 2.0, "format": "jsonv2"})
        page = client.get(f"https://{API_HOST}/v1/observations", params={"observed_on": "2023-05-01"}).json()
    held = services.held_s[NOMINATIM_HOST]
    latency = LATENCY_S[NOMINATIM_HOST]
    # Real compute between requests also counts on the virtual clock and shortens the hold, so only the upper
    # bound is tight; the lower one leaves room for a loaded machine.
    assert 2 * (1.0 - latency) - 0.5 <= held <= 2 * (1.0 - latency) + 0.05
    # Sums of the same floats in another order can differ in the last bit.
    assert services.clock.slept >= held + 3 * latency + LATENCY_S[API_HOST] - 1e-9
    assert page["total_results"] == 4
    assert {p["photos"][0]["id"] for p in page["results"]} == {700_000_000 + i for i in range(4)}


def test_service_call_benchmark_runs_on_a_tiny_sample(tmp_path: Path) -> None:
    runs = benchmark(records=20, per_day=10, workdir=tmp_path, nominatim=False, earth_engine_weather=True)
    pipeline, baseline = runs["pipeline"], runs["baseline"]
    # Two dates: one iNaturalist page, one Open-Meteo archive call and one EE request each (NDVI and water
    # distance share the combined request).
    assert pipeline.requests == {"inaturalist_api": 2, "photos": 20, "nominatim": 0, "open_meteo": 2,
                                 "earth_engine": 2}
    assert pipeline.open_meteo_weight == 20
    # The reference pattern: a page per date (10 < 40 records), then per record 1 + 1 + 2 + 3 requests.
    assert baseline.requests == {"inaturalist_api": 2, "photos": 20, "nominatim": 20, "open_meteo": 40,
                                 "earth_engine": 60}
    assert baseline.open_meteo_weight == 40
    assert runs["baseline_nosleep"].requests == baseline.requests
    # The baseline's fixed sleeps alone: 1.2 s x 20 records + 5 s per 20 records. Real compute also runs on the
    # virtual clock and differs a little between the two runs, and a sleep can absorb a rate-limit wait.
    assert baseline.wall_s - runs["baseline_nosleep"].wall_s == pytest.approx(29.0, abs=1.5)
    assert pipeline.records_per_day_by_caps() == (10_000, "open_meteo")
    assert baseline.records_per_day_by_caps() == (5_000, "open_meteo")
    # Weather from ERA5-Land in Earth Engine: one more EE request per date instead of Open-Meteo's calls, so the
    # daily cap moves from Open-Meteo's 10,000 calls to iNaturalist's media allowance.
    ee_weather = runs["pipeline_ee_weather"]
    assert ee_weather.requests == {"inaturalist_api": 2, "photos": 20, "nominatim": 0, "open_meteo": 0,
                                   "earth_engine": 4}
    assert ee_weather.open_meteo_weight == 0
    assert ee_weather.records_per_day_by_caps() == (pytest.approx(96_000), "photo_media")
    table = markdown_table(runs)
    assert table.splitlines()[0] == ("| per 1,000 records | pipeline | baseline | baseline, no sleeps | "
                                     "pipeline, Earth Engine weather |")
    assert "| **metadata + geocoding + weather + EE requests** | **300** | **6,100** | **6,100** | **300** |" in table


PAGE = """# Benchmarks

Hand-written prose before.

<!-- benchmark:alpha:start -->
old alpha
<!-- benchmark:alpha:end -->

Prose between, kept.

<!-- benchmark:beta:start -->
old beta
<!-- benchmark:beta:end -->

Prose after.
"""


def test_report_replaces_only_its_own_section_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    report.write_section("alpha", "| a | b |\n|---|---|\n| 1 | 2 |\n", path)
    once = path.read_text()
    assert once == PAGE.replace("old alpha", "| a | b |\n|---|---|\n| 1 | 2 |")
    assert "old beta" in once and "Prose between, kept." in once and once.endswith("Prose after.\n")
    report.write_section("alpha", "| a | b |\n|---|---|\n| 1 | 2 |", path)
    assert path.read_text() == once


def test_report_appends_a_missing_section_and_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    report.write_section("gamma", "new", path)
    assert path.read_text() == PAGE + "\n<!-- benchmark:gamma:start -->\nnew\n<!-- benchmark:gamma:end -->\n"
    fresh = tmp_path / "sub" / "fresh.md"
    report.write_section("gamma", "new", fresh)
    assert fresh.read_text() == "<!-- benchmark:gamma:start -->\nnew\n<!-- benchmark:gamma:end -->\n"


def test_report_refuses_broken_markers_and_bad_names(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE.replace("<!-- benchmark:beta:end -->", ""))
    with pytest.raises(ValueError, match="exactly one"):
        report.write_section("beta", "x", path)
    path.write_text("<!-- benchmark:beta:end -->\n<!-- benchmark:beta:start -->\n")
    with pytest.raises(ValueError, match="before"):
        report.write_section("beta", "x", path)
    with pytest.raises(ValueError, match="lower-case"):
        report.write_section("Beta -->", "x", path)


def test_report_path_argument_then_environment_then_docs(tmp_path: Path, monkeypatch, benchmarks_doc: Path) -> None:
    assert report.doc_path() == benchmarks_doc
    assert report.doc_path(tmp_path / "x.md") == tmp_path / "x.md"
    monkeypatch.delenv(report.ENV_VAR)
    assert report.doc_path() == BENCHMARKS_DOC


def test_report_table_and_command_line() -> None:
    assert report.table(("a", "b"), [(1, "x|y")]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"
    assert report.command_line("benchmarks.scale", ["--records", "10", "--report", "/tmp/x.md", "--no-report"]) == (
        "python -m benchmarks.scale --records 10")


def test_the_docs_page_has_one_section_per_benchmark() -> None:
    text = BENCHMARKS_DOC.read_text()
    for name in ("service_calls", "backfill", "scale", "captions", "exports", "earth_engine", "geocoder_agreement",
                 "release_update"):
        start, end = report.markers(name)
        assert text.count(start) == 1 and text.count(end) == 1, name
        assert text.index(start) < text.index(end), name


def test_benchmark_runs_write_their_section_to_the_given_file_only(tmp_path: Path, benchmarks_doc: Path) -> None:
    before = BENCHMARKS_DOC.read_text()
    scale.main(["--records", "2000", "--days", "2"])  # to $GMGBD_BENCHMARKS_DOC
    earth_engine.main(["20", "--report", str(tmp_path / "explicit.md")])
    scale.main(["--records", "1000", "--days", "1", "--no-report"])
    written = benchmarks_doc.read_text()
    assert "| `gmgbd` rows | 2,000 |" in written
    assert "with `python -m benchmarks.scale --records 2000 --days 2`" in written
    explicit = (tmp_path / "explicit.md").read_text()
    assert explicit.startswith("<!-- benchmark:earth_engine:start -->")
    assert "| `ndvi` | 1 | 20 |" in explicit and "| `covariates` | 0 | 20 |" in explicit
    assert "`earth_engine_requests=1`" in explicit
    assert BENCHMARKS_DOC.read_text() == before


def test_earth_engine_benchmark_counts_at_most_three_requests_for_four_layers(capsys: pytest.CaptureFixture) -> None:
    """12,000 points on one date (the issue's bar): ndvi, water distance, covariates and the satellite embedding
    together send N <= 3."""
    rows, total = earth_engine.measure(12_000)
    assert total == 3 and sum(r["requests"] for r in rows) == 3
    assert [r["layer"] for r in rows][-1] == "satellite_embedding" and rows[-1]["values"] == 12_000
    assert capsys.readouterr().out.count("requests") == 4


def test_release_update_benchmark_changes_its_share_in_equal_parts(tmp_path: Path) -> None:
    """The newer snapshot the update benchmark serves: 6% of 100 records, one of each kind, classified as such."""
    write_sample(tmp_path, 100, per_day=50)
    records = json.loads((tmp_path / "observations.json").read_text())["results"]
    second, counts = release_update.second_snapshot(records, 0.06)
    assert counts == dict.fromkeys(release_update.KINDS, 1)
    assert len(second) == 100  # one new, one gone
    before = {r["uuid"]: r for r in records}
    after = {r["uuid"]: r for r in second}
    (new,) = set(after) - set(before)
    (gone,) = set(before) - set(after)
    assert after[new]["observed_on"] in {r["observed_on"] for r in records} and gone != new
    edited = {u for u in set(before) & set(after) if before[u] != after[u]}
    assert len(edited) == 4
    assert {after[u]["taxon"]["id"] for u in edited} >= {release_update.OTHER_TAXON}
    assert any(after[u]["obscured"] for u in edited)
