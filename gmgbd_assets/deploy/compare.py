"""Whether two export folders hold the same dataset: ``make demo``'s and ``make demo-distributed``'s.

    python -m gmgbd_assets.deploy.compare data/exports data/distributed/exports

What is compared, file by file (the same relative paths must exist on both sides). Left aside: when things were
built (timestamps) and where the folders are (their absolute paths); nothing else.
- ``.parquet``: the schema and every value of every column except TIMESTAMP columns (``built_at``), not the file
  bytes (writer metadata may differ);
- ``.tar`` (WebDataset shards): the member names in order and each member's bytes, text members (JSON) with
  timestamps masked; not the tar headers (mtimes);
- ``.csv``, ``.json``, ``.md`` and other text: the text with timestamps (``2026-12-02 01:28``,
  ``2026-12-02T01:28:04.85``) and the folders' paths masked; in the dataset card the summary row of a TIMESTAMP
  column (its range and count of distinct build times) is masked whole; in ``croissant.json`` each file's sha256
  and size are masked, because the files they describe hold build timestamps (each file is compared itself);
- ``.zip`` (the Darwin Core Archive): the member names in order and each member's bytes, text members with
  timestamps masked; not the zip headers (member times);
- ``release.json``: left aside: it describes the build (its deployment's settings, times and the digests of
  files that hold build times), not the dataset, whose every file is compared itself;
- anything else (the card's PNG plots): the bytes.
Exit status 0 when nothing differs; otherwise each difference is printed.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_TIMESTAMP_ROW = re.compile(r"^\|[^\n]*\| TIMESTAMP \|[^\n]*$", re.MULTILINE)
_FILE_DIGEST = re.compile(r'"(sha256|contentSize)": "[^"]*"')
TEXT_SUFFIXES = {".csv", ".json", ".md", ".txt", ".yaml", ".jsonl"}
ZIP_TEXT_SUFFIXES = TEXT_SUFFIXES | {".xml"}
# Describes the build, not the dataset (see the module docstring).
BUILD_RECORDS = {"release.json"}


def _masked(path: Path, root: Path) -> str:
    text = path.read_text(errors="replace").replace(str(root.resolve()), "<root>").replace(str(root), "<root>")
    if path.name == "croissant.json":
        text = _FILE_DIGEST.sub(r'"\1": "<of the file>"', text)
    return _TIMESTAMP.sub("<timestamp>", _TIMESTAMP_ROW.sub("<timestamp column>", text))


def _tar_members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    return [
        (name, _TIMESTAMP.sub("<timestamp>", data.decode()).encode() if Path(name).suffix in TEXT_SUFFIXES else data)
        for name, data in members
    ]


def _zip_members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist() if not info.is_dir()]
    return [
        (name, _TIMESTAMP.sub("<timestamp>", data.decode()).encode() if Path(name).suffix in ZIP_TEXT_SUFFIXES
         else data)
        for name, data in members
    ]


def _table(path: Path) -> pa.Table:
    table = pq.read_table(path)
    return table.drop_columns([f.name for f in table.schema if pa.types.is_timestamp(f.type)])


def differences(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name not in BUILD_RECORDS}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name not in BUILD_RECORDS}
    found = [f"only in {a}: {p}" for p in sorted(files_a - files_b)]
    found += [f"only in {b}: {p}" for p in sorted(files_b - files_a)]
    for rel in sorted(files_a & files_b):
        fa, fb = a / rel, b / rel
        if rel.suffix == ".parquet":
            same = _table(fa).equals(_table(fb))
        elif rel.suffix == ".tar":
            same = _tar_members(fa) == _tar_members(fb)
        elif rel.suffix == ".zip":
            same = _zip_members(fa) == _zip_members(fb)
        elif rel.suffix in TEXT_SUFFIXES:
            same = _masked(fa, a) == _masked(fb, b)
        else:
            same = fa.read_bytes() == fb.read_bytes()
        if not same:
            found.append(f"differs: {rel}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    a, b = Path(args[0]), Path(args[1])
    found = differences(a, b)
    for line in found:
        print(line)
    count = sum(1 for p in a.rglob("*") if p.is_file())
    print(f"{count} files compared: {'identical' if not found else f'{len(found)} differences'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
