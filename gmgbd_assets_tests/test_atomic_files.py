"""Export swaps keep a good copy at every instant, and two writers of one file never share a temporary file
(issue 24, item 10, first half)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from gmgbd_assets.core import atomic_files
from gmgbd_assets.core.release_clock import ReleaseClockResource
from gmgbd_assets.exports.croissant import croissant
from gmgbd_assets.exports.croissant_metadata import CROISSANT_FILE
from gmgbd_assets.exports.formats import EXPORT_SPEC, SHARD_GLOB
from gmgbd_assets.exports.resource import ExportsResource
from gmgbd_assets.exports.webdataset import write_hf_readme

DAY = date(2024, 6, 1)

# Run in a child: replace the date's folder the way a system without RENAME_EXCHANGE does, and die by SIGKILL
# exactly between moving the old folder away and moving the new one in.
KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from datetime import date
from pathlib import Path
from gmgbd_assets.core import atomic_files
from gmgbd_assets.exports.resource import ExportsResource

exports = ExportsResource(root=sys.argv[1])
target = exports.date_directory("csv", date(2024, 6, 1))
atomic_files.exchange = lambda first, second: False
real = Path.rename

def rename(self, destination):
    if Path(destination) == target and ".staging-" in self.name:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, destination)

Path.rename = rename
with exports.replace_date("csv", date(2024, 6, 1)) as folder:
    (folder / "gmgbd.csv").write_text("new\\n")
"""


def _export(exports: ExportsResource, text: str) -> None:
    with exports.replace_date("csv", DAY) as folder:
        (folder / "gmgbd.csv").write_text(text)


def _only_the_date(exports: ExportsResource) -> list[str]:
    return sorted(p.name for p in exports.directory("csv").iterdir())


def test_an_error_between_the_two_renames_leaves_the_old_export_readable(tmp_path, monkeypatch):
    exports = ExportsResource(root=str(tmp_path))
    target = exports.date_directory("csv", DAY)
    _export(exports, "old\n")
    monkeypatch.setattr(atomic_files, "exchange", lambda first, second: False)  # no RENAME_EXCHANGE here
    real = Path.rename

    def second_rename_fails(self: Path, destination: Path) -> Path:
        if Path(destination) == target and ".staging-" in self.name:
            raise OSError(errno.EIO, "injected failure between the two renames")
        return real(self, destination)

    monkeypatch.setattr(Path, "rename", second_rename_fails)
    with pytest.raises(OSError, match="injected failure"):
        _export(exports, "new\n")
    assert (target / "gmgbd.csv").read_text() == "old\n"
    monkeypatch.setattr(Path, "rename", real)
    _export(exports, "new\n")
    assert (target / "gmgbd.csv").read_text() == "new\n"
    assert _only_the_date(exports) == ["sighting_date=2024-06-01"]


def test_a_run_killed_between_the_two_renames_loses_nothing_and_the_next_run_completes(tmp_path):
    exports = ExportsResource(root=str(tmp_path))
    target = exports.date_directory("csv", DAY)
    _export(exports, "old\n")
    child = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    retired = [p for p in exports.directory("csv").iterdir() if ".retired-" in p.name]
    assert not target.exists() and [(p / "gmgbd.csv").read_text() for p in retired] == ["old\n"]
    # The next run puts the good copy back before it stages anything: one that fails leaves the old export.
    with pytest.raises(RuntimeError), exports.replace_date("csv", DAY):
        raise RuntimeError("the next run fails too")
    assert (target / "gmgbd.csv").read_text() == "old\n"
    _export(exports, "new\n")
    assert (target / "gmgbd.csv").read_text() == "new\n"
    assert _only_the_date(exports) == ["sighting_date=2024-06-01"]


def _exchange_works(tmp_path: Path) -> bool:
    first, second = tmp_path / "probe-a", tmp_path / "probe-b"
    first.mkdir()
    second.mkdir()
    (first / "a").touch()
    swapped = atomic_files.exchange(first, second)
    return swapped and (second / "a").exists()


def test_where_the_kernel_can_exchange_the_date_folder_is_never_missing(tmp_path, monkeypatch):
    if not _exchange_works(tmp_path):
        pytest.skip("no renameat2 RENAME_EXCHANGE on this system or filesystem: the two-rename path is used")
    exports = ExportsResource(root=str(tmp_path / "exports"))
    target = exports.date_directory("csv", DAY)
    _export(exports, "old\n")
    seen: list[str] = []

    def reader(step: Callable) -> Callable:
        """``step`` with a reader looking at the date's file before and after it."""

        def observed(*args: object, **kwargs: object) -> object:
            seen.append((target / "gmgbd.csv").read_text() if (target / "gmgbd.csv").exists() else "missing")
            result = step(*args, **kwargs)
            seen.append((target / "gmgbd.csv").read_text() if (target / "gmgbd.csv").exists() else "missing")
            return result

        return observed

    monkeypatch.setattr(Path, "rename", reader(Path.rename))
    monkeypatch.setattr(atomic_files, "exchange", reader(atomic_files.exchange))
    monkeypatch.setattr(atomic_files.shutil, "rmtree", reader(atomic_files.shutil.rmtree))
    _export(exports, "new\n")
    assert seen and "missing" not in seen
    assert seen[0] == "old\n" and seen[-1] == "new\n"


@pytest.fixture
def replacements_meet(monkeypatch) -> None:
    """Every ``os.replace`` waits for a second one: two writers have both written before either renames."""
    barrier = threading.Barrier(2, timeout=20)
    real = os.replace

    def together(source: object, destination: object) -> None:
        barrier.wait()
        real(source, destination)

    monkeypatch.setattr(os, "replace", together)


def _at_once(write: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            write(i)
        except BaseException as error:  # collected: the test asserts there is none
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_two_writers_of_the_webdataset_readme_both_succeed_and_leave_it_whole(tmp_path, replacements_meet):
    bodies = [str(i) * 400_000 for i in range(2)]
    errors = _at_once(lambda i: write_hf_readme(tmp_path, EXPORT_SPEC.columns, SHARD_GLOB, bodies[i]))
    assert not errors
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n") and text.rstrip("\n").rsplit("\n", 1)[-1] in bodies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_two_croissant_writers_at_once_both_succeed_and_leave_it_whole(tmp_path, replacements_meet):
    exports = ExportsResource(root=str(tmp_path))
    errors = _at_once(lambda i: croissant(exports, ReleaseClockResource()))
    assert not errors
    document = json.loads((tmp_path / CROISSANT_FILE).read_text(encoding="utf-8"))
    assert document["@type"] == "sc:Dataset"
    assert sorted(p.name for p in tmp_path.iterdir()) == [CROISSANT_FILE]


def test_replaced_files_and_folders_get_the_usual_permissions_not_owner_only_ones(tmp_path):
    usual_folder, usual_file = tmp_path / "usual", tmp_path / "usual.txt"
    usual_folder.mkdir()
    usual_file.write_text("x")
    exports = ExportsResource(root=str(tmp_path / "exports"))
    _export(exports, "old\n")
    _export(exports, "new\n")
    write_hf_readme(tmp_path / "webdataset", EXPORT_SPEC.columns, SHARD_GLOB, "body")
    assert exports.date_directory("csv", DAY).stat().st_mode == usual_folder.stat().st_mode
    assert (tmp_path / "webdataset" / "README.md").stat().st_mode == usual_file.stat().st_mode
