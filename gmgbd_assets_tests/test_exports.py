"""Exports: the reference CSV with its images, Parquet, WebDataset loaded by `datasets` offline, licence filter,
idempotent re-runs, and blocking when gmgbd is incomplete."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import tarfile
import threading
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gmgbd_assets.core.licenses import OPEN, LicenseFilter
from gmgbd_assets.core.settings import Settings
from gmgbd_assets.dataset import gmgbd as gmgbd_module
from gmgbd_assets.dataset.gmgbd import REFERENCE_COLUMNS
from gmgbd_assets.definitions import all_checks, build_definitions
from gmgbd_assets.exports.formats import EXPORT_SPEC, SPLITS_CSV_COLUMNS, WEBDATASET_S2_FIELDS
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.exports.webdataset import Sample, write_shards
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.export_fixtures import IMAGE_SIZE, build_complete, copy_complete, jpeg

EXPORTS = ["export_csv", "export_parquet", "export_webdataset"]
SAMPLE_DAYS = ["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-05", "2024-06-06", "2024-06-07"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("exports-template") / "data"
    build_complete(data_dir)
    return data_dir


@pytest.fixture
def complete(template, offline_env):
    """A private copy of the sample with complete enrichment tables, real JPEGs and gmgbd built."""
    return copy_complete(template, offline_env)


def _export(settings, selection=EXPORTS, start="2024-06-01", end="2024-06-07", **changes):
    defs = build_definitions(dataclasses.replace(settings, **changes))
    return materialize_range(defs, selection, start, end)


def _per_date(result, key):
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return events[0].materialization.metadata["per_date"].value


def test_csv_has_exactly_the_reference_columns_with_images_and_attribution_beside_it(offline_env, complete):
    assert _export(offline_env, ["export_csv"]).success
    root = offline_env.exports_dir / "csv"
    assert sorted(p.name for p in root.iterdir()) == [f"sighting_date={d}" for d in SAMPLE_DAYS]  # 06-04 is empty
    for day in SAMPLE_DAYS:
        folder = root / f"sighting_date={day}"
        frame = pl.read_csv(folder / "gmgbd.csv", try_parse_dates=True)
        assert tuple(frame.columns) == REFERENCE_COLUMNS
        expected = complete.query(
            f"SELECT {', '.join(REFERENCE_COLUMNS)} FROM gmgbd WHERE sighting_date = ? ORDER BY observation_uuid", [day]
        )
        assert frame.equals(expected.cast(frame.schema))
        for filename, image_path in complete.query(
            "SELECT g.filename, i.path FROM gmgbd g JOIN images i USING (observation_uuid) WHERE g.sighting_date = ?",
            [day],
        ).rows():
            assert (folder / "images" / filename).read_bytes() == Path(image_path).read_bytes()
        attribution = pl.read_csv(folder / "attribution.csv")
        assert attribution["filename"].to_list() == frame["filename"].to_list()
        assert attribution["photo_attribution"].null_count() == 0
        # The splits beside it, row for row, as the splits table has them.
        splits = pl.read_csv(folder / "splits.csv", infer_schema=False)
        assert tuple(splits.columns) == SPLITS_CSV_COLUMNS
        assert splits["filename"].to_list() == frame["filename"].to_list()
        for scheme in ("spatial", "observer", "temporal"):
            stored = complete.query(
                "SELECT s.split FROM splits s JOIN gmgbd g USING (observation_uuid) WHERE s.scheme = ? "
                "AND g.sighting_date = ? ORDER BY g.observation_uuid", [scheme, day])
            assert splits[f"split_{scheme}"].to_list() == stored["split"].to_list()
    everything = pl.read_csv(root / "*" / "gmgbd.csv")
    assert everything.height == complete.query("SELECT count(*) AS n FROM gmgbd")["n"][0]


def test_parquet_is_zstd_with_every_column_one_folder_per_date(offline_env, complete):
    assert _export(offline_env, ["export_parquet"]).success
    root = offline_env.exports_dir / "parquet"
    files = sorted(root.glob("sighting_date=*/gmgbd.parquet"))
    assert [f.parent.name for f in files] == [f"sighting_date={d}" for d in SAMPLE_DAYS]
    for file in files:
        metadata = pq.ParquetFile(file).metadata
        schema = pq.ParquetFile(file).schema_arrow
        assert schema.names == EXPORT_SPEC.column_names
        # The embedding is one fixed-size list column of 64 float32s, as declared.
        assert schema.field("satellite_embedding").type == pa.list_(pa.float32(), 64)
        assert schema.names[-7:] == ["split_spatial", "block_spatial", "split_observer", "block_observer",
                                              "split_temporal", "split_version", "split_params"]
        codecs = {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)}
        assert codecs == {"ZSTD"}
    con = duckdb.connect()
    exported = con.sql(f"SELECT * EXCLUDE (sighting_date), sighting_date FROM read_parquet('{root}/*/*.parquet', "
                       "hive_partitioning = false) ORDER BY observation_uuid").pl()
    table = complete.query("SELECT * EXCLUDE (sighting_date), sighting_date FROM gmgbd ORDER BY observation_uuid")
    assert exported.select(table.columns).equals(table)
    wide = complete.query(
        "SELECT observation_uuid, scheme, split, block FROM splits ORDER BY observation_uuid, scheme"
    ).pivot("scheme", index="observation_uuid", values=["split", "block"])
    assert exported.select(
        "observation_uuid", split_spatial="split_spatial", split_observer="split_observer",
        split_temporal="split_temporal", block_spatial="block_spatial", block_observer="block_observer",
    ).equals(wide.select(
        "observation_uuid", split_spatial="split_spatial", split_observer="split_observer",
        split_temporal="split_temporal", block_spatial="block_spatial", block_observer="block_observer",
    ))
    assert exported["split_version"].unique().to_list() == ["v1"]


def test_webdataset_loads_with_hugging_face_datasets_offline(offline_env, complete, tmp_path):
    result = _export(offline_env, ["export_webdataset"], shard_max_samples=5)
    assert result.success
    root = offline_env.exports_dir / "webdataset"
    assert len(list((root / "sighting_date=2024-06-01").glob("*.tar"))) == 4  # 19 samples, 5 per shard
    assert _per_date(result, "export_webdataset")["2024-06-01"]["shards"] == 4
    script = (
        "import json, sys, datasets\n"
        "ds = datasets.load_dataset(sys.argv[1], split='train', cache_dir=sys.argv[2])\n"
        "rows = [dict(key=r['__key__'], size=list(r['jpg'].size), meta=r['json']) for r in ds]\n"
        "print(json.dumps(dict(features=sorted(ds.features), rows=rows)))\n"
    )
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           # Anything that tried the network would fail here.
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    done = subprocess.run([sys.executable, "-c", script, str(root), str(tmp_path / "cache")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # s2.tif is declared (as bytes) though this fixture built no satellite_chips: every sample has it as None.
    assert loaded["features"] == ["__key__", "__url__", "jpg", "json", "s2.tif"]
    table = complete.query("SELECT observation_uuid, photo_license, photo_attribution, scientific_name FROM gmgbd")
    assert sorted(r["key"] for r in loaded["rows"]) == sorted(table["observation_uuid"])
    by_id = {r["meta"]["observation_uuid"]: r for r in loaded["rows"]}
    for observation_uuid, licence, attribution, name in table.rows():
        row = by_id[observation_uuid]
        assert row["size"] == list(IMAGE_SIZE)
        assert (row["meta"]["photo_license"], row["meta"]["photo_attribution"]) == (licence, attribution)
        assert row["meta"]["scientific_name"] == name
    assert set(loaded["rows"][0]["meta"]) == {*EXPORT_SPEC.column_names, *WEBDATASET_S2_FIELDS}
    sides = complete.query("SELECT observation_uuid, scheme, split FROM splits").rows()
    for observation_uuid, scheme, side in sides:
        assert by_id[observation_uuid]["meta"][f"split_{scheme}"] == side


def test_open_licence_filter_leaves_other_photos_out_of_every_export(offline_env, complete):
    assert _export(offline_env).success
    filtered = _export(offline_env, export_licenses=LicenseFilter.parse("open"))
    assert filtered.success
    table = complete.query("SELECT observation_uuid, filename, photo_license, sighting_date FROM gmgbd")
    is_open = pl.col("photo_license").is_in(list(OPEN))
    kept, dropped = table.filter(is_open), table.filter(~is_open | pl.col("photo_license").is_null())
    assert kept.height and dropped.height and dropped["photo_license"].null_count() == 1  # the unlicensed photo
    root = offline_env.exports_dir
    csv = pl.read_csv(root / "csv" / "*" / "gmgbd.csv")
    assert sorted(csv["filename"]) == sorted(kept["filename"])
    assert sorted(p.name for p in root.glob("csv/*/images/*")) == sorted(kept["filename"])  # no stale images
    attribution = pl.read_csv(root / "csv" / "*" / "attribution.csv")
    assert set(attribution["photo_license"]) <= set(OPEN)
    parquet = pl.read_parquet(root / "parquet" / "*" / "*.parquet", hive_partitioning=False)
    assert sorted(parquet["observation_uuid"]) == sorted(kept["observation_uuid"])
    keys = []
    for shard in root.glob("webdataset/*/*.tar"):
        with tarfile.open(shard) as tar:
            keys += [m.name.split(".")[0] for m in tar.getmembers() if m.name.endswith(".json")]
    assert sorted(keys) == sorted(kept["observation_uuid"])
    left_out = _per_date(filtered, "export_csv")
    assert sum(d["left_out_by_licence"] for d in left_out.values()) == dropped.height


def test_rerunning_a_date_replaces_its_files_and_leaves_no_stale_shard(offline_env, complete):
    assert _export(offline_env, ["export_webdataset"], shard_max_samples=5).success
    folder = offline_env.exports_dir / "webdataset" / "sighting_date=2024-06-02"
    assert len(list(folder.glob("*.tar"))) == 4
    other_day = sorted((offline_env.exports_dir / "webdataset" / "sighting_date=2024-06-03").iterdir())
    assert _export(offline_env, ["export_webdataset"], "2024-06-02", "2024-06-02", shard_max_samples=100).success
    assert [p.name for p in folder.iterdir()] == ["gmgbd-2024-06-02-000000.tar"]
    assert sorted((offline_env.exports_dir / "webdataset" / "sighting_date=2024-06-03").iterdir()) == other_day
    first = folder.joinpath("gmgbd-2024-06-02-000000.tar").read_bytes()
    assert _export(offline_env, ["export_webdataset"], "2024-06-02", "2024-06-02", shard_max_samples=100).success
    assert folder.joinpath("gmgbd-2024-06-02-000000.tar").read_bytes() == first  # byte-identical re-run
    # A date whose records are gone loses its folder in every format.
    with complete.connect() as con:
        con.execute("DELETE FROM raw_observations WHERE sighting_date = '2024-06-02'")
    assert materialize_range(build_definitions(offline_env), ["gmgbd", "splits"], "2024-06-02", "2024-06-02").success
    assert _export(offline_env, EXPORTS, "2024-06-02", "2024-06-02").success
    assert not list(offline_env.exports_dir.glob("*/sighting_date=2024-06-02"))
    assert not list(offline_env.exports_dir.glob("*/.*"))  # no staging leftovers


def _corrupt_after_build(monkeypatch):
    """gmgbd's build leaves a NULL city behind: what a bug in the final table would look like."""
    original = gmgbd_module.build_window

    def broken(con, start, end, built_at, obscured):
        original(con, start, end, built_at, obscured)
        con.execute("ALTER TABLE gmgbd ALTER COLUMN city DROP NOT NULL")
        con.execute("UPDATE gmgbd SET city = NULL WHERE observation_uuid = (SELECT min(observation_uuid) FROM gmgbd)")

    monkeypatch.setattr(gmgbd_module, "build_window", broken)


def test_exports_and_card_are_blocked_when_completeness_fails_in_the_same_run(
    offline_defs, offline_env, complete, monkeypatch
):
    _corrupt_after_build(monkeypatch)
    assets = [offline_defs.get_assets_def(k) for k in ["gmgbd", *EXPORTS, "dataset_card"]]
    result = dg.materialize(
        [*assets, *all_checks(Settings.from_env(), ["gmgbd"])],
        resources=offline_defs.resources,
        tags={"dagster/asset_partition_range_start": "2024-06-01", "dagster/asset_partition_range_end": "2024-06-07"},
        raise_on_error=False,
    )
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["completeness"].passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"gmgbd"}
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert {"gmgbd", "gmgbd_dataset_checks"} <= started
    assert started.isdisjoint({*EXPORTS, "dataset_card"})  # no export step and no card step ran
    assert not offline_env.exports_dir.exists()


def test_an_export_run_without_the_checks_still_refuses_an_incomplete_gmgbd(offline_env, complete):
    with complete.connect() as con:
        con.execute("ALTER TABLE gmgbd ALTER COLUMN country DROP NOT NULL")
        con.execute(
            "UPDATE gmgbd SET country = NULL WHERE observation_uuid = (SELECT max(observation_uuid) FROM gmgbd)"
        )
    result = _export(offline_env, ["export_parquet"])
    assert not result.success
    assert "completeness" in result.failure_data_for_node("export_parquet").error.message
    assert not offline_env.exports_dir.exists()


def test_an_export_refuses_records_without_splits(offline_env, complete):
    with complete.connect() as con:
        con.execute("DELETE FROM splits WHERE observation_uuid = (SELECT max(observation_uuid) FROM splits) "
                    "AND scheme = 'temporal'")
    result = _export(offline_env, ["export_parquet"])
    assert not result.success
    assert "splits fails its row_parity" in result.failure_data_for_node("export_parquet").error.message
    assert not offline_env.exports_dir.exists()


def test_a_missing_or_changed_image_fails_the_export(offline_env, complete):
    path = Path(complete.query("SELECT path FROM images ORDER BY observation_uuid LIMIT 1")["path"][0])
    path.write_bytes(jpeg(1))  # no longer the file images downloaded
    result = _export(offline_env, ["export_webdataset"])
    assert not result.success and "sha256" in result.failure_data_for_node("export_webdataset").error.message
    path.unlink()
    result = _export(offline_env, ["export_csv"])
    assert not result.success and "no image file" in result.failure_data_for_node("export_csv").error.message


def test_licence_setting_parses_all_open_and_lists():
    assert LicenseFilter.parse("").allowed is None and LicenseFilter.parse("all").allows(None)
    assert LicenseFilter.parse("open").allowed == OPEN and not LicenseFilter.parse("open").allows("cc-by-nc")
    custom = LicenseFilter.parse(" CC0, cc-by-nc ,all-rights-reserved")
    assert custom.allows("cc0") and custom.allows("CC-BY-NC") and custom.allows(None) and not custom.allows("cc-by")
    with pytest.raises(ValueError, match="cc_by"):
        LicenseFilter.parse("cc0,cc_by")


def test_shards_close_at_the_byte_limit_and_keys_have_no_dots(tmp_path):
    samples = [Sample(str(i), b"x" * 1000, "jpg", {"i": i}) for i in range(5)]
    shards = write_shards(samples, tmp_path, "s", max_samples=100, max_bytes=2500)
    assert [s.samples for s in shards] == [3, 2]
    with tarfile.open(shards[0].path) as tar:
        assert tar.getnames() == ["0.jpg", "0.json", "1.jpg", "1.json", "2.jpg", "2.json"]
    with pytest.raises(ValueError, match="may not contain"):
        write_shards([Sample("1.5", b"", "jpg", {})], tmp_path / "bad", "s", 10, 10)


def test_two_runs_exporting_one_date_take_turns(tmp_path: Path) -> None:
    exports = ExportsResource(root=str(tmp_path))
    day = date(2024, 6, 1)
    first_staging, release_first, second_entered = queue.Queue(), threading.Event(), threading.Event()

    def first() -> None:
        with exports.replace_date("csv", day) as staging:
            (staging / "part.csv").write_text("first\n")
            first_staging.put(staging)
            release_first.wait(30)
            (staging / "more.csv").write_text("still first\n")  # its staging folder must still be there

    def second() -> None:
        with exports.replace_date("csv", day) as staging:
            second_entered.set()
            (staging / "part.csv").write_text("second\n")

    threads = [threading.Thread(target=first)]
    threads[0].start()
    staging = first_staging.get(timeout=30)
    threads.append(threading.Thread(target=second))
    threads[1].start()
    # Without the lock the second run would start at once and sweep the first one's staging folder away.
    assert not second_entered.wait(0.5)
    assert (staging / "part.csv").read_text() == "first\n"
    release_first.set()
    for thread in threads:
        thread.join(30)
    assert second_entered.is_set()
    final = exports.date_directory("csv", day)
    assert sorted(p.name for p in final.iterdir()) == ["part.csv"] and (final / "part.csv").read_text() == "second\n"
    assert sorted(p.name for p in final.parent.iterdir()) == ["sighting_date=2024-06-01"]


def _removed_section(settings) -> str:
    card = (settings.exports_dir / "DATASET_CARD.md").read_text()
    return card[card.index("## Removed since the previous build"):card.index("## Splits")]


def test_a_rebuild_drops_a_record_whose_licence_changed_and_the_card_lists_it(offline_env, complete):
    build = [*EXPORTS, "dataset_card"]
    open_filter = LicenseFilter.parse("open")
    assert _export(offline_env, build, export_licenses=open_filter).success
    assert "First build: nothing to compare with." in _removed_section(offline_env)
    # The observer of an exported cc-by photo switches it to a non-commercial licence.
    oid, day = complete.query("SELECT observation_uuid, sighting_date FROM gmgbd WHERE photo_license = 'cc-by' "
                              "ORDER BY observation_uuid LIMIT 1").row(0)
    with complete.connect() as con:
        con.execute("UPDATE raw_observations SET photo_license = 'cc-by-nc' WHERE observation_uuid = ?", [oid])
    defs = build_definitions(dataclasses.replace(offline_env, export_licenses=open_filter))
    assert materialize_range(defs, ["gmgbd", "splits"], day.isoformat(), day.isoformat()).success
    assert _export(offline_env, build, day.isoformat(), day.isoformat(), export_licenses=open_filter).success
    root = offline_env.exports_dir
    parquet = pl.read_parquet(root / "parquet" / "*" / "*.parquet", hive_partitioning=False)
    assert oid not in parquet["observation_uuid"].to_list() and parquet.height
    assert oid not in pl.read_csv(root / "csv" / "*" / "attribution.csv")["observation_uuid"].to_list()
    section = _removed_section(offline_env)
    assert f"| {oid} | {day.isoformat()} | cc-by | cc-by-nc | licence_not_allowed |" in section
    removed = pl.read_csv(root / "removed_since_previous_build.csv", infer_schema=False)
    assert removed.select("observation_uuid", "licence_then", "licence_now", "reason").rows() == [
        (oid, "cc-by", "cc-by-nc", "licence_not_allowed")]
    # Rebuilding with nothing changed removes nothing, and the old list does not linger.
    assert _export(offline_env, build, day.isoformat(), day.isoformat(), export_licenses=open_filter).success
    assert "\nNone.\n" in _removed_section(offline_env)
    assert not (root / "removed_since_previous_build.csv").exists()
    # Narrowing the allowed set drops every photo it no longer allows, each with the reason.
    assert _export(offline_env, build, export_licenses=LicenseFilter.parse("cc0")).success
    removed = pl.read_csv(root / "removed_since_previous_build.csv", infer_schema=False)
    expected = complete.query("SELECT observation_uuid FROM gmgbd WHERE photo_license IN ('cc-by', 'cc-by-sa', 'pd')")
    assert sorted(removed["observation_uuid"]) == sorted(expected["observation_uuid"]) and expected.height
    assert set(removed["reason"]) == {"licence_not_allowed"}


def test_the_card_says_why_a_record_left_when_it_is_no_longer_complete_or_gone_upstream(offline_env, complete):
    build = [*EXPORTS, "dataset_card"]
    assert _export(offline_env, build, "2024-06-02", "2024-06-02").success
    incomplete, gone = complete.query("SELECT observation_uuid FROM gmgbd WHERE sighting_date = '2024-06-02' "
                                      "ORDER BY observation_uuid LIMIT 2")["observation_uuid"]
    with complete.connect() as con:
        con.execute("UPDATE ndvi SET NDVI_value = NULL, NDVI_Category = NULL, missing_reason = 'no_clear_composite' "
                    "WHERE observation_uuid = ?", [incomplete])
        con.execute("DELETE FROM raw_observations WHERE observation_uuid = ?", [gone])
    assert materialize_range(build_definitions(offline_env), ["gmgbd", "splits"], "2024-06-02", "2024-06-02").success
    assert _export(offline_env, build, "2024-06-02", "2024-06-02").success
    removed = pl.read_csv(offline_env.exports_dir / "removed_since_previous_build.csv", infer_schema=False)
    by_id = {r["observation_uuid"]: r for r in removed.iter_rows(named=True)}
    assert set(by_id) == {incomplete, gone}
    assert by_id[incomplete]["reason"] == "not_complete"
    assert "ndvi: no_clear_composite" in by_id[incomplete]["detail"]
    assert by_id[gone]["reason"] == "observation_gone"
