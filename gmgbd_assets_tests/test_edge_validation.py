"""The checks of outside text (``edge_validation``): each rule on its own, then the same bad value through both
sources, the API parser and the open-data reader, giving the same reason, the same detail and no stored value."""

from __future__ import annotations

import copy
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from gmgbd_assets.core.licenses import KNOWN
from gmgbd_assets.emulators.inaturalist import sample_observations
from gmgbd_assets.observations.edge_validation import (
    EDGE_REASONS,
    INVALID_ATTRIBUTION,
    INVALID_OBSERVER,
    INVALID_PHOTO_EXTENSION,
    INVALID_TAXON,
    MAX_NAME_LENGTH,
    PHOTO_EXTENSIONS,
    UNKNOWN_LICENSE,
    explain,
    explain_after,
    known_license,
    license_problem,
    outside_text,
    plausible_name,
    refused_character,
    url_extension,
)
from gmgbd_assets.observations.inaturalist import NO_COORDINATES, parse_observation
from gmgbd_assets.observations.observation import Observation
from gmgbd_assets.observations.open_data.files import locate_export
from gmgbd_assets.observations.open_data.reader import PHOTO_HOST, observations_on
from gmgbd_assets.observations.open_data.staging import stage_snapshot
from gmgbd_assets.observations.raw_observations import RAW_OBSERVATIONS
from gmgbd_assets_tests.test_open_data import BIRD, export_dir, obs, photo, uuid, write_export

DAY = date(2024, 6, 1)
BIDI = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
]
CONTROLS = ["\x00", "\x07", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9b", "\x9f", "\u2028", "\u2029", "\ud800"]


# --- each rule ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ch", [*BIDI, *CONTROLS], ids=lambda ch: f"U+{ord(ch):04X}")
def test_every_control_and_bidi_character_is_refused_wherever_it_sits(ch: str) -> None:
    for text in (f"{ch}lichenlover", f"lichen{ch}lover", f"lichenlover{ch}"):
        assert refused_character(text) == f"U+{ord(ch):04X}"
        assert not plausible_name(text)


@pytest.mark.parametrize(
    "text",
    [
        "lichenlover",
        'Ana "Polilla" Ruiz',
        "Zoë Ødegård",
        "مریم\u200cرضایی",
        "山田太郎",
        "👩\u200d🔬 field team",
        "Robert'); DROP TABLE x;--",
        "=cmd|' /C calc'!A0",
    ],
)
def test_names_of_every_script_pass_the_free_text_rule(text: str) -> None:
    """Only the listed characters are refused: a join (U+200C, U+200D) that a script or an emoji needs is not, and
    text that is hostile elsewhere (SQL, a CSV formula) is another module's concern."""
    assert refused_character(text) is None


def test_the_refused_set_is_exactly_the_controls_separators_surrogates_and_bidi_controls() -> None:
    refused = {chr(c) for c in range(0x3000) if refused_character(chr(c))}
    expected = {chr(c) for c in range(0x3000) if unicodedata.category(chr(c)) in ("Cc", "Zl", "Zp", "Cs")}
    assert refused == expected | set(BIDI)


def test_a_name_is_printable_and_not_too_long() -> None:
    assert plausible_name("Turdus merula") and plausible_name("x" * MAX_NAME_LENGTH)
    assert not plausible_name("x" * (MAX_NAME_LENGTH + 1))
    assert not plausible_name("Turdus\u200bmerula")  # a name, unlike a login, holds no invisible character


def test_both_sources_trim_only_ascii_whitespace() -> None:
    assert outside_text("  lichenlover\t\r\n") == "lichenlover"
    assert outside_text(" \t ") is None and outside_text(42) is None and outside_text(None) is None
    # str.strip() would have dropped these ends silently and accepted the rest.
    for end in ("\x1f", "\x85", "\u2028", "\u202e"):
        assert outside_text(f"{end}lichenlover") == f"{end}lichenlover"


@pytest.mark.parametrize("code", [*KNOWN, *(c.upper() for c in KNOWN), None])
def test_known_licence_codes_pass_in_any_case_and_are_stored_lower_case(code: str | None) -> None:
    assert license_problem(code) is None
    assert known_license(code) == (code.lower() if code else None)


@pytest.mark.parametrize("code", ["cc-by-4.0", "CC BY", "all-rights-reserved", "cc-by\u202e", "<img src=x>", "| x |"])
def test_any_other_licence_code_is_a_reason_never_a_value(code: str) -> None:
    reason, detail = license_problem(code)
    assert reason == UNKNOWN_LICENSE and repr(code)[:20] in detail
    assert known_license(code) is None


@pytest.mark.parametrize(
    ("url", "extension"),
    [
        ("https://inaturalist-open-data.s3.amazonaws.com/photos/1/square.jpg?1598551272", "jpg"),
        ("https://static.inaturalist.org/photos/1/large.JPEG", "JPEG"),
        ("https://static.inaturalist.org/photos/1/large.svg#x", "svg"),
        ("https://static.inaturalist.org/photos/1/large.", ""),
        ("https://static.inaturalist.org/photos/1/large", None),
        ("https://evil.example.com", None),  # a dot in the host is not an extension
        ("file:///etc/passwd", None),
        ("http://[::1/photos/1/large.jpg", None),  # does not parse: the photo step gives that URL its reason
    ],
)
def test_the_extension_is_read_from_the_last_path_segment(url: str, extension: str | None) -> None:
    assert url_extension(url) == extension


def test_one_problem_is_its_own_detail_several_are_listed_after_any_the_staging_gave() -> None:
    assert explain([]) == (None, None)
    assert explain([("a", "one")]) == ("a", "one")
    assert explain([("a", "one"), ("b", "two")]) == ("a", "a: one; b: two")
    assert explain_after("a", "one", []) == ("a", "one")
    assert explain_after(None, None, [("b", "two")]) == ("b", "two")
    assert explain_after("a", "one", [("b", "two")]) == ("a", "a: one; b: two")
    assert explain_after("a", "a: one; c: three", [("b", "two")]) == ("a", "a: one; c: three; b: two")


def test_raw_observations_declares_every_edge_reason() -> None:
    assert set(EDGE_REASONS) <= set(RAW_OBSERVATIONS.reason_codes)


# --- the same bad value through both sources ----------------------------------------------------------------------


def _api(change) -> Observation:
    """The API sample's record 1 on DAY, with the attribution iNaturalist's own wording (the export's), changed."""
    record = copy.deepcopy(sample_observations()[1])
    record["observed_on"] = DAY.isoformat()
    record["photos"][0].update(license_code="cc-by", attribution="(c) lichenlover, some rights reserved (CC BY)")
    change(record)
    obs_ = parse_observation(record, DAY)
    assert obs_ is not None
    return obs_


def _export(
    tmp_path: Path,
    *,
    photo_fields: dict[str, str] | None = None,
    taxon_name: str = BIRD[4],
    login: str = "lichenlover",
    name: str = "",
    rank: str = BIRD[3],
    common: str | None = None,
) -> Observation:
    taxa = [[*BIRD[:3], rank, taxon_name, BIRD[5]]]
    folder = write_export(
        export_dir(tmp_path), [obs(1)], [photo(1, 5, **(photo_fields or {}))], taxa, [["1", login, name]]
    )
    archive = None
    if common is not None:
        archive = tmp_path / "VernacularNames-english.csv"
        archive.write_text(f"id,vernacularName,language\n{BIRD[0]},{common},en\n", encoding="utf-8")
    info = stage_snapshot(locate_export(folder), tmp_path / "staging", archive, force=True)
    [record] = observations_on(info, DAY)
    assert record.observation_uuid == uuid(1)
    return record


def _user(login: str):
    def change(r: dict) -> None:
        r["user"]["login"] = login
        r["photos"][0]["attribution"] = f"(c) {login}, some rights reserved (CC BY)"

    return change


def _taxon(name: str):
    return lambda r: r["taxon"].update(name=name)


def _photo(**fields: str):
    return lambda r: r["photos"][0].update(fields)


def _extension(ext: str):
    return lambda r: r["photos"][0].update(url=f"{PHOTO_HOST}/photos/5/square.{ext}")


# (case, API change, export arguments, expected reason, the fields that must then be NULL)
SAME_VALUE = [
    (
        "unknown licence",
        _photo(license_code="cc-by-xyz"),
        {"photo_fields": {"license": "CC-BY-XYZ"}},
        UNKNOWN_LICENSE,
        ("photo_license", "photo_attribution"),
    ),
    ("svg photo", _extension("svg"), {"photo_fields": {"extension": "svg"}}, INVALID_PHOTO_EXTENSION, ("photo_url",)),
    (
        "bidi override in the login",
        _user("lichen\u202elover"),
        {"login": "lichen\u202elover"},
        INVALID_OBSERVER,
        ("observer", "photo_attribution"),
    ),
    (
        "C1 control in the login",
        _user("lichen\x9blover"),
        {"login": "lichen\x9blover"},
        INVALID_OBSERVER,
        ("observer", "photo_attribution"),
    ),
    (
        "control at the end of the login",
        _user("lichenlover\x1f"),
        {"login": "lichenlover\x1f"},
        INVALID_OBSERVER,
        ("observer", "photo_attribution"),
    ),
    (
        "isolate in the observer's name",
        _photo(attribution="(c) Ana\u2066Ruiz, some rights reserved (CC BY)"),
        {"name": "Ana\u2066Ruiz"},
        INVALID_ATTRIBUTION,
        ("photo_attribution",),
    ),
    (
        "bidi override in the scientific name",
        _taxon("Turdus\u202emerula"),
        {"taxon_name": "Turdus\u202emerula"},
        INVALID_TAXON,
        ("scientific_name",),
    ),
    (
        "C1 control in the scientific name",
        _taxon("Turdus\x9b2Jmerula"),
        {"taxon_name": "Turdus\x9b2Jmerula"},
        INVALID_TAXON,
        ("scientific_name",),
    ),
]


@pytest.mark.parametrize(
    ("api_change", "export_args", "reason", "nulls"), [c[1:] for c in SAME_VALUE], ids=[c[0] for c in SAME_VALUE]
)
def test_the_same_bad_value_gives_the_same_reason_through_both_sources(
    tmp_path: Path, api_change, export_args, reason: str, nulls: tuple[str, ...]
) -> None:
    api, export = _api(api_change), _export(tmp_path, **export_args)
    assert api.invalid_reason == export.invalid_reason == reason
    assert api.invalid_detail == export.invalid_detail
    for record in (api, export):
        assert all(getattr(record, f) is None for f in nulls), (record, nulls)
        # The detail shows the value escaped: no control or bidi character reaches a table raw.
        assert refused_character(record.invalid_detail) is None


def test_the_clean_record_passes_both_sources(tmp_path: Path) -> None:
    api, export = _api(lambda r: None), _export(tmp_path)
    assert api.invalid_reason is export.invalid_reason is None
    assert (api.observer, api.photo_license, api.photo_attribution) == (
        export.observer,
        export.photo_license,
        export.photo_attribution,
    )


@pytest.mark.parametrize("ext", [*PHOTO_EXTENSIONS, *(e.upper() for e in PHOTO_EXTENSIONS), "Jpg"])
def test_every_listed_extension_passes_both_sources_in_any_case(tmp_path: Path, ext: str) -> None:
    api, export = _api(_extension(ext)), _export(tmp_path, photo_fields={"extension": ext})
    assert api.invalid_reason is export.invalid_reason is None
    assert api.photo_url.endswith(f"/large.{ext}") and export.photo_url.endswith(f"/large.{ext}")


def test_a_licence_code_in_capitals_is_stored_lower_case_by_both(tmp_path: Path) -> None:
    api, export = _api(_photo(license_code="CC-BY")), _export(tmp_path, photo_fields={"license": "CC-BY"})
    assert api.photo_license == export.photo_license == "cc-by"
    assert api.invalid_reason is export.invalid_reason is None


def test_a_shown_only_field_that_fails_is_null_and_the_record_stays_usable(tmp_path: Path) -> None:
    def change(r: dict) -> None:
        r["taxon"].update(preferred_common_name="Black\u202ebird", rank="spe\x85cies")

    api, export = _api(change), _export(tmp_path, common="Black\u202ebird", rank="spe\x85cies")
    for record in (api, export):
        assert record.invalid_reason is None
        assert (record.common_name, record.taxon_rank) == (None, None)
    assert api.scientific_name == sample_observations()[1]["taxon"]["name"] and export.scientific_name == BIRD[4]


def test_edge_reasons_come_after_the_sources_own(tmp_path: Path) -> None:
    def change(r: dict) -> None:
        r.update(geojson=None, location=None)
        r["photos"][0]["license_code"] = "cc-by-xyz"

    api = _api(change)
    folder = write_export(export_dir(tmp_path), [obs(1, latitude="")], [photo(1, 5, license="CC-BY-XYZ")])
    [export] = observations_on(stage_snapshot(locate_export(folder), tmp_path / "staging", force=True), DAY)
    for record in (api, export):
        assert record.invalid_reason == NO_COORDINATES
        assert record.invalid_detail.startswith("no_coordinates: ")
        assert record.invalid_detail.endswith(
            "; unknown_license: photo licence 'cc-by-xyz' is not one of " + ", ".join(KNOWN)
        )


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "https://evil.example.com/observations/1",
        "http://www.inaturalist.org/observations/1",
        "https://www.inaturalist.org/x\u202e",
    ],
)
def test_the_observation_page_is_built_from_the_identity_never_copied(tmp_path: Path, uri: str) -> None:
    api = _api(lambda r: r.update(uri=uri))
    assert api.observation_url == f"https://www.inaturalist.org/observations/{api.observation_id}"
    assert api.invalid_reason is None
    assert _export(tmp_path).observation_url == f"https://www.inaturalist.org/observations/{uuid(1)}"
