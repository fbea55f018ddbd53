"""Rebuild a release from its manifest, or update one to a newer snapshot (docs/releases.md).

    python -m gmgbd_assets.release rebuild data/exports/release.json [--data-dir DIR]
    python -m gmgbd_assets.release update [--data-dir DIR]

``rebuild`` builds the release again into DIR (default ``rebuilds/<release id>``, which must be empty or absent)
from the manifest's inputs, settings and times, then compares every file with the manifest. Exit code 0 when every
byte is the same, 1 when a file differs, 2 when the manifest was refused (an input missing or changed).

``update`` reads the snapshot configured now into the data directory that holds a release (DIR, default
``GMGBD_DATA_DIR``), builds again only the dates whose records changed, keeping the stored enrichments of
unchanged records, writes the new release and prints what changed and what was recomputed. Exit code 0 when the
update is written, 2 when it was refused (no release there, another code version or value setting).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.releases.manifest import Manifest
from gmgbd_assets.releases.rebuild import RebuildRefusedError, rebuild
from gmgbd_assets.releases.update import UpdateRefusedError, update


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gmgbd_assets.release", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rebuilding = commands.add_parser("rebuild", help="rebuild a release into a fresh data directory")
    rebuilding.add_argument("manifest", type=Path)
    rebuilding.add_argument("--data-dir", type=Path, default=None)
    updating = commands.add_parser("update", help="update the release of a data directory to a newer snapshot")
    updating.add_argument("--data-dir", type=Path, default=None, help="default: GMGBD_DATA_DIR")
    args = parser.parse_args(argv)
    if args.command == "update":
        return _update(args.data_dir)
    data_dir = args.data_dir or Path("rebuilds") / Manifest.read(args.manifest).release_id
    try:
        report = rebuild(args.manifest, data_dir, build_definitions)
    except RebuildRefusedError as refused:
        print(refused, file=sys.stderr)
        return 2
    for kind, paths in (("missing", report.missing), ("different", report.different), ("extra", report.extra)):
        for path in paths:
            print(f"{kind}: {path}")
    print(f"{'identical' if report.identical else 'NOT identical'}: rebuilt into {report.data_dir}")
    return 0 if report.identical else 1


def _update(data_dir: Path | None) -> int:
    try:
        report = update(data_dir, build_definitions)
    except UpdateRefusedError as refused:
        print(refused, file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
