"""Files and folders replaced so that no reader, crash or second writer ever meets half of one, or none.

A file is written under a unique name beside its target (two writers never share a temporary file), flushed to
disk, then renamed over the target with ``os.replace``: the target holds the whole old file or the whole new one.

A folder cannot be renamed over a folder that holds files. ``replacing_directory`` exchanges the two in one step
where the kernel can (Linux ``renameat2`` with ``RENAME_EXCHANGE``: readers see the old folder or the new one,
never neither). Elsewhere the old folder is renamed to a *retired* name and the new one renamed into place; in
between, the retired folder is the good copy: an error puts it back at once, and after a crash the next
replacement puts it back before anything else (``recover_directory``). Folders under the *staging* and *removed*
names are never a good copy, so a leftover one is deleted.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# Answers of renameat2 that mean "not here" (old kernel or libc, a filesystem without exchange): use two renames.
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc before 2.28, or a libc without it
        return None


_RENAMEAT2 = _renameat2()


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot (nothing was changed then)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; once the block has written it, it replaces ``path`` whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created by the writer, not by mkstemp: the file gets the usual permissions (mkstemp's are owner-only).
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` (UTF-8) whole, or keeps what it held if this fails."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _pattern(target: Path, kind: str) -> str:
    return glob.escape(f".{target.name}.{kind}-") + "*"


def _unique(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{uuid.uuid4().hex}"


def recover_directory(target: Path) -> None:
    """Undo what a replacement killed midway left: put a retired good copy back when ``target`` is missing, and
    delete staging, removed and surplus retired folders. Call it under the lock that serialises replacements."""
    retired = sorted(target.parent.glob(_pattern(target, "retired")))
    if retired and not target.exists():
        retired.pop().rename(target)
    for leftover in (
        *retired,
        *target.parent.glob(_pattern(target, "staging")),
        *target.parent.glob(_pattern(target, "removed")),
    ):
        shutil.rmtree(leftover, ignore_errors=True)


def remove_directory(target: Path) -> None:
    """Remove ``target`` and everything in it; a crash midway leaves either all of it or a removed leftover."""
    if target.exists():
        doomed = _unique(target, "removed")
        target.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
    elif exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # it holds the old folder now
    else:
        retired = _unique(target, "retired")
        target.rename(retired)
        try:
            staging.rename(target)
        except BaseException:
            retired.rename(target)
            raise
        shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def replacing_directory(target: Path, remove_if_empty: bool = True) -> Iterator[Path]:
    """Yield an empty folder beside ``target``; when the block succeeds it takes ``target``'s place, or, left
    empty and ``remove_if_empty``, ``target`` is removed. The caller serialises replacements of one target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(target)
    staging = _unique(target, "staging")
    staging.mkdir()  # not mkdtemp: the folder readers get has the usual permissions, not owner-only ones
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not remove_if_empty or any(staging.iterdir()):
        _swap(staging, target)
    else:
        staging.rmdir()
        remove_directory(target)
