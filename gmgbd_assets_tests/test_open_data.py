"""The open-data export reader on rows in the real format: one test per quirk of the format, the bundled sample
against the API sample, and a tiny benchmark run.

Rows are written here as the export writes them: tab-separated, unquoted, one header row, empty field = NULL.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pytest

from gmgbd_assets.observations.edge_validation import INVALID_PHOTO_EXTENSION, INVALID_TAXON
from gmgbd_assets.observations.inaturalist import (
    INVALID_COORDINATES,
    NO_COORDINATES,
    NO_PHOTO,
    NO_TAXON,
    parse_observation,
)
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.open_data import queries
from gmgbd_assets.observations.open_data.files import ExportFormatError, locate_export
from gmgbd_assets.observations.open_data.reader import PHOTO_HOST, attribution, available_on, observations_on
from gmgbd_assets.observations.open_data.staged import TAXON_NOT_IN_EXPORT, SnapshotInfo
from gmgbd_assets.observations.open_data.staging import stage_snapshot
from gmgbd_assets.observations.open_data.taxa import ExportTaxa
from gmgbd_assets.observations.open_data.versions import load_snapshot
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DAY = date(2024, 6, 1)
OBS_HEADER = ["observation_uuid", "observer_id", "latitude", "longitude", "positional_accuracy", "taxon_id",
              "quality_grade", "observed_on", "anomaly_score"]
PHOTO_HEADER = ["photo_uuid", "photo_id", "observation_uuid", "observer_id", "extension", "license", "width",
                "height", "position"]
TAXA_HEADER = ["taxon_id", "ancestry", "rank_level", "rank", "name", "active"]
OBSERVER_HEADER = ["observer_id", "login", "name"]
BIRD = ["12727", "48460/1/2/355675/3", "10", "species", "Turdus merula", "true"]


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def obs(n: int, **fields: str) -> dict[str, str]:
    row = {"observation_uuid": uuid(n), "observer_id": "1", "latitude": "51.5072000000",
           "longitude": "-0.1276000000", "positional_accuracy": "10", "taxon_id": "12727",
           "quality_grade": "research", "observed_on": DAY.isoformat(), "anomaly_score": "0.1"}
    row.update(fields)
    return row


def photo(n: int, photo_id: int, **fields: str) -> dict[str, str]:
    row = {"photo_uuid": f"10000000-0000-4000-8000-{photo_id:012d}", "photo_id": str(photo_id),
           "observation_uuid": uuid(n), "observer_id": "1", "extension": "jpg", "license": "CC-BY",
           "width": "2048", "height": "1536", "position": "0"}
    row.update(fields)
    return row


def lines(header: list[str], rows: list[dict[str, str] | str]) -> str:
    """The file's text; a row given as a string is written verbatim (broken lines)."""
    out = ["\t".join(header)]
    out += [row if isinstance(row, str) else "\t".join(row.get(c, "") for c in header) for row in rows]
    return "\n".join(out) + "\n"


def write_export(folder: Path, observations: list, photos: list, taxa: list[list[str]] | None = None,
                 observers: list[list[str]] | None = None, obs_header: list[str] = OBS_HEADER,
                 gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "observations": lines(obs_header, observations),
        "photos": lines(PHOTO_HEADER, photos),
        "taxa": "\n".join(["\t".join(TAXA_HEADER)] + ["\t".join(t) for t in (taxa or [BIRD])]) + "\n",
        "observers": "\n".join(["\t".join(OBSERVER_HEADER)]
                               + ["\t".join(o) for o in (observers or [["1", "birder", ""]])]) + "\n",
    }
    for name, text in texts.items():
        if gz:
            (folder / f"{name}.csv.gz").write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def stage(tmp_path: Path, folder: Path, taxonomy: Path | None = None) -> SnapshotInfo:
    return stage_snapshot(locate_export(folder), tmp_path / "staging", taxonomy, force=True)


def by_uuid(info: SnapshotInfo, day: date = DAY) -> dict[str, Observation]:
    return {o.observation_uuid: o for o in observations_on(info, day)}


def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "inaturalist-open-data-20240701"


# --- the record type ----------------------------------------------------------------------------------------------

def test_both_sources_build_the_one_record_that_raw_observations_stores(tmp_path: Path) -> None:
    """One record type for both sources, every field of it a column of raw_observations (and the uuid, the
    shared identity, required)."""
    [export] = observations_on(stage(tmp_path, write_export(export_dir(tmp_path), [obs(1)], [photo(1, 5)])), DAY)
    result = json.loads((SAMPLE / "observations.json").read_text(encoding="utf-8"))["results"][0]
    api = parse_observation(result, date.fromisoformat(result["observed_on"]))
    assert type(export) is type(api) is Observation
    fields = {f.name: f for f in dataclasses.fields(Observation)}
    stored = {c.name for c in RAW_OBSERVATIONS.columns} - {"observation_source", "fetched_at"}
    assert set(fields) == stored
    assert fields["observation_uuid"].type == "str" and fields["observation_id"].type == "int | None"


# --- reading by header name ---------------------------------------------------------------------------------------

def test_columns_are_read_by_header_name_including_the_legacy_user_id(tmp_path: Path) -> None:
    legacy = ["observed_on", "quality_grade", "taxon_id", "positional_accuracy", "longitude", "latitude", "user_id",
              "observation_uuid"]  # pre-2021 name, another order, no anomaly_score
    rows = [{("user_id" if k == "observer_id" else k): v for k, v in obs(1).items()}]
    old = stage(tmp_path / "old", write_export(export_dir(tmp_path / "old"), rows, [photo(1, 5)], obs_header=legacy))
    new = stage(tmp_path / "new", write_export(export_dir(tmp_path / "new"), [obs(1)], [photo(1, 5)]))
    assert by_uuid(old) == by_uuid(new)
    record = by_uuid(new)[uuid(1)]
    assert (record.latitude, record.longitude, record.observer) == (51.5072, -0.1276, "birder")


def test_a_header_without_a_required_column_is_an_error_naming_it(tmp_path: Path) -> None:
    header = [c for c in OBS_HEADER if c != "latitude"]
    folder = write_export(export_dir(tmp_path), [obs(1)], [photo(1, 5)], obs_header=header)
    with pytest.raises(ExportFormatError, match="latitude"):
        stage(tmp_path, folder)


# --- the dialect ----------------------------------------------------------------------------------------------------

def test_quotes_are_plain_characters(tmp_path: Path) -> None:
    taxa = [["12727", "48460/1/2/355675/3", "10", "species", 'Turdus "merula', "true"]]
    observers = [["1", "birder", 'Ana "Polilla" Ruiz'], ["2", '"quoted', ""]]
    folder = write_export(export_dir(tmp_path), [obs(1), obs(2, observer_id="2")], [photo(1, 5), photo(2, 6)],
                          taxa, observers)
    records = by_uuid(stage(tmp_path, folder))
    assert records[uuid(1)].scientific_name == 'Turdus "merula'
    assert records[uuid(1)].photo_attribution == '(c) Ana "Polilla" Ruiz, some rights reserved (CC BY)'
    assert records[uuid(2)].observer == '"quoted'


def test_an_empty_field_is_null(tmp_path: Path) -> None:
    rows = [obs(1, positional_accuracy=""), obs(2, latitude="", longitude=""), obs(3, taxon_id="")]
    folder = write_export(export_dir(tmp_path), rows, [photo(n, n) for n in (1, 2, 3)])
    records = by_uuid(stage(tmp_path, folder))
    assert records[uuid(1)].positional_accuracy_m is None and records[uuid(1)].invalid_reason is None
    assert records[uuid(2)].invalid_reason == NO_COORDINATES
    assert records[uuid(2)].latitude is None
    assert records[uuid(3)].invalid_reason == NO_TAXON and records[uuid(3)].taxon_id is None


def test_only_research_grade_is_staged_and_the_rest_counted(tmp_path: Path) -> None:
    rows = [obs(1), obs(2, quality_grade="needs_id"), obs(3, quality_grade="casual")]
    info = stage(tmp_path, write_export(export_dir(tmp_path), rows, [photo(n, n) for n in (1, 2, 3)]))
    assert list(by_uuid(info)) == [uuid(1)]
    assert info.counts["not_research_grade"] == 2
    assert info.rows["observations"] == 3


# --- photos ---------------------------------------------------------------------------------------------------------

def test_the_first_photo_is_the_lowest_position_whatever_the_gaps_and_order(tmp_path: Path) -> None:
    photos = [photo(1, 11, position="7"), photo(1, 12, position="3"), photo(1, 10, position="9"),
              photo(2, 22, position="2"), photo(2, 21, position="2")]  # a tie goes to the lower photo id
    records = by_uuid(stage(tmp_path, write_export(export_dir(tmp_path), [obs(1), obs(2)], photos)))
    assert records[uuid(1)].photo_id == 12
    assert records[uuid(2)].photo_id == 21


def test_a_photo_id_shared_by_two_observations_goes_to_both(tmp_path: Path) -> None:
    photos = [photo(1, 500, license="CC-BY"), photo(2, 500, license="CC-BY-NC")]
    records = by_uuid(stage(tmp_path, write_export(export_dir(tmp_path), [obs(1), obs(2)], photos)))
    assert records[uuid(1)].photo_id == records[uuid(2)].photo_id == 500
    assert (records[uuid(1)].photo_license, records[uuid(2)].photo_license) == ("cc-by", "cc-by-nc")


def test_the_url_keeps_the_extension_case(tmp_path: Path) -> None:
    photos = [photo(1, 1, extension="JPG"), photo(2, 2, extension="jpeg"), photo(3, 3, extension="png")]
    info = stage(tmp_path, write_export(export_dir(tmp_path), [obs(1), obs(2), obs(3)], photos))
    urls = {o.photo_id: o.photo_url for o in observations_on(info, DAY, photo_size="medium")}
    assert urls == {1: f"{PHOTO_HOST}/photos/1/medium.JPG", 2: f"{PHOTO_HOST}/photos/2/medium.jpeg",
                    3: f"{PHOTO_HOST}/photos/3/medium.png"}
    with pytest.raises(ValueError, match="photo size"):
        observations_on(info, DAY, photo_size="huge")


def test_uncommon_extension_and_licence_spellings_are_kept_as_written(tmp_path: Path) -> None:
    """The first photo is chosen on codes for the usual spellings; any other spelling still comes through whole,
    and one that is not a photo format the edge check accepts becomes the record's reason."""
    photos = [photo(1, 1, extension="Jpeg", license="CC-BY-SA"), photo(1, 9, extension="jpg", position="1"),
              photo(2, 2, extension="Png", license="cc-by-nc"), photo(2, 1, extension="png", position="3"),
              photo(3, 3, license=""), photo(4, 4, extension="webp")]
    records = by_uuid(stage(tmp_path, write_export(export_dir(tmp_path), [obs(n) for n in (1, 2, 3, 4)], photos)))
    assert (records[uuid(1)].photo_id, records[uuid(1)].photo_url) == (1, f"{PHOTO_HOST}/photos/1/large.Jpeg")
    assert records[uuid(1)].photo_license == "cc-by-sa"
    assert (records[uuid(2)].photo_id, records[uuid(2)].photo_url) == (2, f"{PHOTO_HOST}/photos/2/large.Png")
    assert records[uuid(2)].photo_license == "cc-by-nc"
    assert (records[uuid(4)].photo_id, records[uuid(4)].photo_url) == (4, None)
    assert records[uuid(4)].invalid_reason == INVALID_PHOTO_EXTENSION and "'webp'" in records[uuid(4)].invalid_detail
    assert records[uuid(3)].photo_license is None
    assert records[uuid(3)].photo_attribution == "(c) birder, all rights reserved"


@pytest.mark.parametrize(("export", "code", "attribution"), [
    ("CC0", "cc0", "no rights reserved"),
    ("CC-BY", "cc-by", "(c) birder, some rights reserved (CC BY)"),
    ("CC-BY-NC", "cc-by-nc", "(c) birder, some rights reserved (CC BY-NC)"),
    ("CC-BY-SA", "cc-by-sa", "(c) birder, some rights reserved (CC BY-SA)"),
    ("CC-BY-ND", "cc-by-nd", "(c) birder, some rights reserved (CC BY-ND)"),
    ("CC-BY-NC-SA", "cc-by-nc-sa", "(c) birder, some rights reserved (CC BY-NC-SA)"),
    ("CC-BY-NC-ND", "cc-by-nc-nd", "(c) birder, some rights reserved (CC BY-NC-ND)"),
    ("PD", "pd", "birder, no known copyright restrictions (public domain)"),
])
def test_licences_map_to_the_api_codes_and_attributions(tmp_path: Path, export: str, code: str,
                                                        attribution: str) -> None:
    info = stage(tmp_path, write_export(export_dir(tmp_path), [obs(1)], [photo(1, 1, license=export)]))
    record = by_uuid(info)[uuid(1)]
    assert (record.photo_license, record.photo_attribution) == (code, attribution)


def test_attribution_uses_the_name_when_there_is_one() -> None:
    assert attribution("cc-by-nc", "kestrel_k", "Kim Kestrel") == "(c) Kim Kestrel, some rights reserved (CC BY-NC)"
    assert attribution("cc-by-nc", "kestrel_k", "") == "(c) kestrel_k, some rights reserved (CC BY-NC)"
    assert attribution(None, "kestrel_k") == "(c) kestrel_k, all rights reserved"
    assert attribution("cc-by", None, None) is None


def test_an_observation_without_a_photo_row_has_a_reason(tmp_path: Path) -> None:
    photos = [photo(2, 2, extension="")]  # a photo without extension cannot be fetched: unusable, counted
    info = stage(tmp_path, write_export(export_dir(tmp_path), [obs(1), obs(2)], photos))
    records = by_uuid(info)
    assert (records[uuid(1)].invalid_reason, records[uuid(1)].invalid_detail) == (NO_PHOTO, "no row in the photos file")
    assert records[uuid(2)].invalid_reason == NO_PHOTO and "1 photo row(s)" in records[uuid(2)].invalid_detail
    assert records[uuid(1)].photo_url is None and records[uuid(1)].photo_attribution is None
    assert info.counts["photos_unusable"] == 1
    assert info.reasons == {NO_PHOTO: 2}


# --- taxa -----------------------------------------------------------------------------------------------------------

def test_a_taxon_missing_from_taxa_has_its_own_reason(tmp_path: Path) -> None:
    folder = write_export(export_dir(tmp_path), [obs(1, taxon_id="999999")], [photo(1, 1)])
    record = by_uuid(stage(tmp_path, folder))[uuid(1)]
    assert record.invalid_reason == TAXON_NOT_IN_EXPORT
    assert record.taxon_id == 999999 and record.scientific_name is None


def test_iconic_taxon_comes_from_the_ancestry_and_fractional_rank_levels_load(tmp_path: Path) -> None:
    taxa = [["47158", "48460/1/47120/372739", "50", "class", "Insecta", "true"],
            ["48662", "48460/1/47120/372739/47158/47157", "10", "species", "Danaus plexippus", "true"],
            ["7", "48460/1/47120/372739/47158", "33.5", "zoosection", "Sectio", "true"],
            ["47126", "48460", "70", "kingdom", "Plantae", "true"],
            ["48460", "", "100", "stateofmatter", "Life", "true"],
            ["5", "48460\\47126", "10", "species", "Backslashed ancestry", "true"]]
    rows = [obs(n, taxon_id=t) for n, t in ((1, "48662"), (2, "47126"), (3, "48460"), (4, "7"), (5, "5"))]
    records = by_uuid(stage(tmp_path, write_export(export_dir(tmp_path), rows,
                                                   [photo(n, n) for n in (1, 2, 3, 4, 5)], taxa)))
    assert [records[uuid(n)].iconic_taxon for n in (1, 2, 3, 4, 5)] == ["Insecta", "Plantae", None, "Insecta",
                                                                        "Plantae"]
    assert records[uuid(4)].taxon_rank == "zoosection"


def test_common_names_come_from_the_taxonomy_archive_first_listed_first(tmp_path: Path) -> None:
    vernacular = ('id,vernacularName,language,locality,countryCode,source,lexicon,contributor,created\n'
                  '12727,"Blackbird, Eurasian",en,,,,English,,\n12727,Common Blackbird,en,,,,English,,\n')
    archive = tmp_path / "inaturalist-taxonomy.dwca.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("VernacularNames-english.csv", vernacular)
    folder = write_export(export_dir(tmp_path), [obs(1)], [photo(1, 1)])
    assert by_uuid(stage(tmp_path, folder, archive))[uuid(1)].common_name == "Blackbird, Eurasian"
    assert by_uuid(stage(tmp_path, folder))[uuid(1)].common_name is None


def test_a_common_name_of_a_taxon_missing_from_the_taxa_file_is_kept_without_a_lineage(tmp_path: Path) -> None:
    archive = tmp_path / "VernacularNames-english.csv"
    archive.write_text("id,vernacularName,language\n4242,Lost Beetle,en\n", encoding="utf-8")
    folder = write_export(export_dir(tmp_path), [obs(1, taxon_id="4242")], [photo(1, 1)])
    info = stage(tmp_path, folder, archive)
    record = by_uuid(info)[uuid(1)]
    assert (record.common_name, record.scientific_name, record.invalid_reason) == (
        "Lost Beetle", None, TAXON_NOT_IN_EXPORT)
    assert ExportTaxa(info).taxa([4242]).taxa == {}


# --- values that do not parse -------------------------------------------------------------------------------------

def test_unparseable_numbers_become_reasons_with_the_raw_text(tmp_path: Path) -> None:
    rows = [obs(1, latitude="fifty"), obs(2, latitude="95.0"), obs(3, taxon_id="33.5"),
            obs(4, positional_accuracy="ten"), obs(5, latitude="nan")]
    info = stage(tmp_path, write_export(export_dir(tmp_path), rows, [photo(n, n) for n in range(1, 6)]))
    records = by_uuid(info)
    assert records[uuid(1)].invalid_reason == INVALID_COORDINATES
    assert "latitude='fifty'" in records[uuid(1)].invalid_detail
    assert records[uuid(2)].invalid_reason == INVALID_COORDINATES
    assert records[uuid(5)].invalid_reason == INVALID_COORDINATES
    assert records[uuid(3)].invalid_reason == INVALID_TAXON and "'33.5'" in records[uuid(3)].invalid_detail
    assert records[uuid(4)].invalid_reason is None and records[uuid(4)].positional_accuracy_m is None
    assert info.counts["unparseable_positional_accuracy"] == 1


def test_two_problems_are_both_explained_as_the_api_source_does(tmp_path: Path) -> None:
    folder = write_export(export_dir(tmp_path), [obs(1, latitude="", taxon_id="999")], [])
    record = by_uuid(stage(tmp_path, folder))[uuid(1)]
    assert record.invalid_reason == NO_COORDINATES
    assert record.invalid_detail == ("no_coordinates: latitude=empty longitude='-0.1276000000'; "
                                     "taxon_not_in_export: taxon 999 is not in the taxa file; "
                                     "no_photo: no row in the photos file")


def test_an_unparseable_date_is_counted_with_examples_and_on_no_date(tmp_path: Path) -> None:
    rows = [obs(1), obs(2, observed_on=""), obs(3, observed_on="2024-02-30"), obs(4, observation_uuid="not-a-uuid")]
    info = stage(tmp_path, write_export(export_dir(tmp_path), rows, [photo(n, n) for n in (1, 2, 3)]))
    assert list(by_uuid(info)) == [uuid(1)]
    assert info.counts["undated"] == 2 and info.counts["invalid_uuid"] == 1
    assert sorted(info.undated_examples) == [f"{uuid(2)}: observed_on=empty", f"{uuid(3)}: observed_on='2024-02-30'"]
    assert info.staged_rows == 1


# --- broken lines ---------------------------------------------------------------------------------------------------

def test_broken_lines_are_counted_and_shown_and_the_others_kept(tmp_path: Path) -> None:
    rows = [obs(1), f"{uuid(2)}\t1\t51.5", obs(3), "\t".join(obs(4).values()) + "\textra"]
    observers = [["1", "birder", ""], ["2", "tabbed", "Tab\tbed"]]  # a tab in a name shifts every column after it
    folder = write_export(export_dir(tmp_path), rows + [obs(5, observer_id="2")], [photo(n, n) for n in (1, 3, 5)],
                          observers=observers)
    info = stage(tmp_path, folder)
    records = by_uuid(info)
    assert sorted(records) == [uuid(1), uuid(3), uuid(5)]
    assert info.rejected_lines == {"observations": 2, "photos": 0, "taxa": 0, "observers": 1}
    assert {(r.table, r.line, r.error) for r in info.rejected_examples} == {
        ("observations", 3, "MISSING COLUMNS"), ("observations", 5, "TOO MANY COLUMNS"),
        ("observers", 3, "TOO MANY COLUMNS")}
    assert records[uuid(5)].observer is None and records[uuid(5)].photo_attribution is None
    assert info.counts["observer_not_in_export"] == 1


def test_duplicate_uuids_are_counted_and_read_once(tmp_path: Path) -> None:
    info = stage(tmp_path, write_export(export_dir(tmp_path), [obs(1), obs(1)], [photo(1, 1)]))
    assert info.counts["duplicate_uuids"] == 1
    assert len(observations_on(info, DAY)) == 1
    assert available_on(info, DAY) == 1


# --- where the files are --------------------------------------------------------------------------------------------

def test_the_tar_bundle_and_gzipped_files_give_the_same_records(tmp_path: Path) -> None:
    rows, photos = [obs(1), obs(2, quality_grade="casual")], [photo(1, 1, extension="JPG")]
    plain = stage(tmp_path / "plain", write_export(export_dir(tmp_path / "plain"), rows, photos))
    gz_folder = write_export(export_dir(tmp_path / "gz"), rows, photos, gz=True)
    gzipped = stage(tmp_path / "gz", gz_folder)
    bundle = tmp_path / "bundle" / "inaturalist-open-data-20240701.tar.gz"
    bundle.parent.mkdir()
    source = write_export(tmp_path / "src" / "inaturalist-open-data-20240701", rows, photos)
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(source, arcname=source.name)
    files = locate_export(bundle.parent)  # a folder holding the bundle finds it
    assert files.bundle == bundle and files.snapshot_date == date(2024, 7, 1)
    bundled = stage_snapshot(files, tmp_path / "bundle-staging")
    assert by_uuid(plain) == by_uuid(gzipped) == by_uuid(bundled)
    assert plain.rows == gzipped.rows == bundled.rows
    assert bundled.source == "inaturalist-open-data:20240701" and bundled.snapshot_date_source == "name"
    assert not (Path(bundled.staging_dir) / "work").exists()  # extracted members are not left behind
    # The bundle's own taxa give the lineages, read from its staging like loose files' (no API).
    lineage = ExportTaxa(bundled).taxa([12727, 999])
    assert lineage.taxa == ExportTaxa(plain).taxa([12727, 999]).taxa
    assert lineage.taxa[12727].ancestor_ids == (48460, 1, 2, 355675, 3, 12727) and 999 not in lineage.taxa


def test_without_a_dated_name_the_snapshot_date_is_the_file_date_and_says_so(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", [obs(1)], [photo(1, 1)])
    os.utime(folder / "observations.csv", (1717200000, 1717200000))  # 2024-06-01 UTC
    files = locate_export(folder)
    assert (files.snapshot_date, files.snapshot_date_source) == (date(2024, 6, 1), "mtime")


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    folder = write_export(export_dir(tmp_path), [obs(1)], [photo(1, 1)])
    (folder / "taxa.csv").unlink()
    with pytest.raises(ExportFormatError, match="taxa"):
        locate_export(folder)


def test_a_staging_is_reused_until_the_export_changes(tmp_path: Path) -> None:
    folder = write_export(export_dir(tmp_path), [obs(1)], [photo(1, 1)])
    first = stage_snapshot(locate_export(folder), tmp_path / "staging")
    again = stage_snapshot(locate_export(folder), tmp_path / "staging")
    assert again.staged_at == first.staged_at and load_snapshot(tmp_path / "staging") == first
    write_export(folder, [obs(1), obs(2)], [photo(1, 1), photo(2, 2)])
    os.utime(folder / "observations.csv", (1, 1))  # a new size and time, whatever the clock's resolution
    changed = stage_snapshot(locate_export(folder), tmp_path / "staging")
    assert changed.staged_rows == 2


def test_a_limit_takes_the_lowest_uuids(tmp_path: Path) -> None:
    info = stage(tmp_path, write_export(export_dir(tmp_path), [obs(3), obs(1), obs(2)],
                                        [photo(n, n) for n in (1, 2, 3)]))
    assert [o.observation_uuid for o in observations_on(info, DAY, limit=2)] == [uuid(1), uuid(2)]


# --- the bundled sample ---------------------------------------------------------------------------------------------

def _api_sample() -> dict[str, Observation]:
    results = json.loads((SAMPLE / "observations.json").read_text(encoding="utf-8"))["results"]
    parsed = {}
    for result in results:
        record = parse_observation(result, date.fromisoformat(result["observed_on"]))
        parsed[result["uuid"]] = record
    return parsed


def test_the_bundled_sample_yields_the_api_samples_records(tmp_path: Path) -> None:
    """Same records by uuid on every sample date, apart from what the export cannot carry: the integer id, the
    obscured flag, the URL's cache-busting query, and the one photo that is all rights reserved (not in the
    open-data bucket, so that observation has no photo). Attribution is iNaturalist's wording, not the sample's."""
    info = stage_snapshot(locate_export(SAMPLE / "open_data"), tmp_path / "staging",
                             SAMPLE / "open_data" / "VernacularNames-english.csv")
    assert info.source == "inaturalist-open-data:20240701"
    api = _api_sample()
    assert all(re.fullmatch(r"[0-9a-f-]{36}", u) for u in api)  # the API sample carries uuids
    seen = set()
    for offset in range(7):
        day = date(2024, 6, 1 + offset)
        export = {o.observation_uuid: o for o in observations_on(info, day)}
        expected = {u: o for u, o in api.items() if o.sighting_date == day}
        assert export.keys() == expected.keys(), day
        for u, theirs in expected.items():
            ours = export[u]
            seen.add(u)
            if theirs.photo_license is None:  # all rights reserved
                assert (ours.invalid_reason, ours.photo_id) == (NO_PHOTO, None)
                continue
            assert ours.photo_url == theirs.photo_url.split("?")[0]
            assert ours.photo_attribution == attribution(theirs.photo_license, theirs.observer)
            assert ours.observation_url == f"https://www.inaturalist.org/observations/{u}"
            assert (ours.observation_id, ours.coordinates_obscured) == (None, None)
            skip = {"observation_id", "coordinates_obscured", "photo_url", "photo_attribution", "observation_url",
                    "observation_uuid"}
            mine = {k: v for k, v in dataclasses.asdict(ours).items() if k not in skip}
            assert mine == {k: v for k, v in dataclasses.asdict(theirs).items() if k not in skip}, u
    assert seen == set(api)


def test_the_bundled_sample_is_what_its_generator_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_open_data", SAMPLE / "make_open_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path)
    bundled = sorted(p.relative_to(SAMPLE / "open_data") for p in (SAMPLE / "open_data").rglob("*.csv"))
    assert bundled == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    for relative in bundled:
        assert (tmp_path / relative).read_bytes() == (SAMPLE / "open_data" / relative).read_bytes(), relative


def test_the_bundled_sample_carries_the_quirks(tmp_path: Path) -> None:
    info = stage_snapshot(locate_export(SAMPLE / "open_data"), tmp_path / "staging")
    quirks = {o.observation_uuid[-2:]: o for o in observations_on(info, date(2024, 5, 31))}
    assert quirks["01"].photo_url.endswith("/large.JPG") and quirks["01"].photo_id == quirks["02"].photo_id
    assert quirks["01"].photo_attribution == '(c) Ana "Polilla" Ruiz, some rights reserved (CC BY)'
    assert quirks["05"].invalid_reason == TAXON_NOT_IN_EXPORT
    assert quirks["06"].invalid_reason == NO_PHOTO
    assert quirks["10"].observer is None
    assert info.counts["undated"] == 1 and info.counts["not_research_grade"] == 2
    assert info.rejected_lines == {"observations": 1, "photos": 0, "taxa": 0, "observers": 1}


# --- the SQL ------------------------------------------------------------------------------------------------------

def test_every_sql_file_is_a_statement_the_package_runs() -> None:
    """The statements ship as package data (``sql/*.sql``): each loads by name and each is named by a module."""
    package = Path(queries.__file__).parent
    names = sorted(p.stem for p in (package / "sql").glob("*.sql"))
    sources = "".join(p.read_text(encoding="utf-8") for p in package.glob("*.py"))
    assert len(names) > 10
    for name in names:
        assert queries.query(name).strip(), name
        assert f'"{name}"' in sources, f"sql/{name}.sql is run by no module"


def test_header_names_never_reach_the_sql(tmp_path: Path) -> None:
    """Columns are named by the reader, not by the header: a header name that is SQL, a column named twice and an
    observers file without its optional ``name`` read like the plain export."""
    header = [*OBS_HEADER, "latitude", 'x" AS y, 1 AS "z']
    rows = [{**obs(1), 'x" AS y, 1 AS "z': "ignored"}]
    folder = write_export(export_dir(tmp_path / "odd"), rows, [photo(1, 5)], obs_header=header)
    (folder / "observers.csv").write_text("observer_id\tlogin\n1\tbirder\n", encoding="utf-8")
    odd = by_uuid(stage(tmp_path / "odd", folder))
    plain = by_uuid(stage(tmp_path / "plain", write_export(export_dir(tmp_path / "plain"), [obs(1)], [photo(1, 5)])))
    assert odd == plain and odd[uuid(1)].observer == "birder" and odd[uuid(1)].invalid_reason is None


# --- the benchmark --------------------------------------------------------------------------------------------------

def test_the_benchmark_prints_its_line_and_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    run = subprocess.run([sys.executable, "-m", "benchmarks.open_data", "--rows", "20000", "--report", str(doc)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    match = re.search(r"^rows=(\d+) rows_per_s=(\d+) peak_rss_mib=(\d+)$", run.stdout, re.MULTILINE)
    assert match, run.stdout
    assert int(match.group(1)) == 20000 and int(match.group(2)) > 0 and int(match.group(3)) > 0
    section = doc.read_text(encoding="utf-8")
    assert "<!-- benchmark:open_data:start -->" in section and "python -m benchmarks.open_data --rows 20000" in section


def test_the_staging_holds_one_folder_per_month_and_a_date_reads_only_its_own(tmp_path: Path) -> None:
    days = ["2024-05-31", "2024-06-01", "2024-06-30", "2024-07-01", "2023-06-01"]
    rows = [obs(n, observed_on=days[n % 5]) for n in range(50)]
    info = stage(tmp_path, write_export(export_dir(tmp_path), rows, [photo(n, n) for n in range(50)]))
    folders = sorted(p.name for p in info.parquet.iterdir())
    assert folders == ["sighting_month=202306", "sighting_month=202405", "sighting_month=202406",
                       "sighting_month=202407"]
    june = duckdb.sql(f"SELECT DISTINCT sighting_date FROM read_parquet('{info.month_files(date(2024, 6, 1))}')")
    assert sorted(d for (d,) in june.fetchall()) == [date(2024, 6, 1), date(2024, 6, 30)]
    for day in days:
        records = observations_on(info, date.fromisoformat(day))
        assert len(records) == 10 and {r.sighting_date for r in records} == {date.fromisoformat(day)}
        assert available_on(info, date.fromisoformat(day)) == 10
    assert observations_on(info, date(2024, 8, 1)) == [] and available_on(info, date(2024, 8, 1)) == 0
    assert info.staged_rows == 50


def test_an_older_single_file_staging_is_restaged(tmp_path: Path) -> None:
    folder = write_export(export_dir(tmp_path), [obs(1)], [photo(1, 1)])
    info = stage(tmp_path, folder)
    current = Path(info.staging_dir) / "snapshot.json"
    old = json.loads(current.read_text())
    old["version"] = 2
    current.write_text(json.dumps(old))
    # What staging version 2 kept directly in the staging folder, before versions and the CURRENT pointer.
    (tmp_path / "staging" / "snapshot.json").write_text(json.dumps(old))
    (tmp_path / "staging" / "observations.parquet").write_bytes(b"PAR1")
    assert load_snapshot(tmp_path / "staging") is None
    again = stage_snapshot(locate_export(folder), tmp_path / "staging")
    assert again.version == info.version and not (tmp_path / "staging" / "observations.parquet").exists()
    assert not (tmp_path / "staging" / "snapshot.json").exists()
    assert [r.observation_uuid for r in observations_on(again, DAY)] == [uuid(1)]


# --- the open-data bucket, emulated ---------------------------------------------------------------------------------

def test_the_bucket_emulator_serves_a_photo_only_under_its_published_extension(tmp_path: Path) -> None:
    """S3 keys are case-sensitive: a photo published as JPG is not at .jpg; a missing key is S3's NoSuchKey 404,
    which the photo downloader records as photo_not_found."""
    import httpx

    from gmgbd_assets.emulators.inaturalist import OpenDataBucketEmulator

    jpeg = (SAMPLE / "photos" / "390000001.jpg").read_bytes()
    (tmp_path / "11.jpg").write_bytes(jpeg)
    (tmp_path / "12.jpg").write_bytes(jpeg)
    bucket = OpenDataBucketEmulator(tmp_path, {"11": {"JPG"}, "12": {"png"}})

    def get(path: str) -> httpx.Response:
        return bucket(httpx.Request("GET", f"{PHOTO_HOST}{path}"))

    served = get("/photos/11/large.JPG")
    assert served.status_code == 200 and served.content == jpeg and served.headers["Content-Type"] == "image/jpeg"
    assert get("/photos/12/medium.png").headers["Content-Type"] == "image/png"
    for missing in ("/photos/11/large.jpg", "/photos/13/large.jpg", "/photos/11", "/metadata/x.tar.gz"):
        response = get(missing)
        assert response.status_code == 404 and b"<Code>NoSuchKey</Code>" in response.content, missing


def test_the_bucket_emulator_knows_the_bundled_exports_extensions() -> None:
    from gmgbd_assets.emulators.inaturalist import published_extensions

    extensions = published_extensions(SAMPLE)
    assert extensions["800100"] == {"JPG", "jpg"} and extensions["390000001"] == {"jpg"}
    assert set().union(*extensions.values()) == {"jpg", "JPG", "jpeg", "png"}
