"""Each benchmark writes its own figures into ``docs/benchmarks.md``, so no figure is ever copied by hand.

A benchmark's section is the text between ``<!-- benchmark:NAME:start -->`` and ``<!-- benchmark:NAME:end -->``;
:func:`write_section` replaces exactly that text and nothing else (the prose around the markers is written by
hand and stays). A section that is not there yet is appended at the end of the file.

The file written is, in order: the ``path`` argument, else ``$GMGBD_BENCHMARKS_DOC``, else ``docs/benchmarks.md``
in this checkout. Tests point it at a temporary file so that tiny test runs never overwrite measured figures.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
ENV_VAR = "GMGBD_BENCHMARKS_DOC"
_NAME = re.compile(r"[a-z0-9_]+")


def doc_path(path: str | Path | None = None) -> Path:
    """The file a benchmark writes: ``path``, else ``$GMGBD_BENCHMARKS_DOC``, else ``docs/benchmarks.md``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def markers(name: str) -> tuple[str, str]:
    if not _NAME.fullmatch(name):
        raise ValueError(f"benchmark section names are lower-case letters, digits and '_', not {name!r}")
    return f"<!-- benchmark:{name}:start -->", f"<!-- benchmark:{name}:end -->"


def replace_section(text: str, name: str, markdown: str) -> str:
    """``text`` with the body of section ``name`` replaced by ``markdown`` (appended at the end if absent)."""
    start, end = markers(name)
    body = markdown.strip("\n")
    begins, ends = text.count(start), text.count(end)
    if begins == 0 and ends == 0:
        prefix = text.rstrip("\n") + "\n\n" if text.strip() else ""
        return f"{prefix}{start}\n{body}\n{end}\n"
    if begins != 1 or ends != 1:
        raise ValueError(f"section {name!r} needs exactly one start and one end marker "
                         f"(found {begins} and {ends})")
    head, rest = text.split(start, 1)
    if end not in rest:
        raise ValueError(f"section {name!r}: the end marker comes before the start marker")
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_section(name: str, markdown: str, path: str | Path | None = None) -> Path:
    """Replace section ``name`` of the benchmarks page with ``markdown``; return the file written."""
    target = doc_path(path)
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    updated = replace_section(text, name, markdown)
    if updated != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(updated, encoding="utf-8")
        tmp.replace(target)
    return target


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; cells are written with ``str`` (format numbers before passing them)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """How the benchmark was started, as one would type it: ``python -m benchmarks.NAME ARGS``."""
    args, given = [], list(sys.argv[1:] if argv is None else argv)
    while given:  # where the figures were written is not part of how they were measured
        arg = given.pop(0)
        if arg == "--report":
            given = given[1:]
        elif not arg.startswith("--report=") and arg != "--no-report":
            args.append(arg)
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in args)])


def provenance(command: str, now: datetime | None = None) -> str:
    """One line saying how, when and where the figures below it were measured."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:  # not available on every platform
        load = ""
    machine = platform.processor() or platform.machine()
    return (f"Measured {when} with `{command}` on {machine}, {os.cpu_count()} CPUs{load}, "
            f"Python {platform.python_version()}. Written by the benchmark itself.")


def add_argument(parser) -> None:
    """``--report PATH`` / ``--no-report`` on a benchmark's ``argparse`` parser."""
    parser.add_argument("--report", metavar="PATH", default=None,
                        help=f"Markdown file whose section this run rewrites (default: ${ENV_VAR} or "
                             "docs/benchmarks.md)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave the Markdown file alone")


def publish(args, name: str, markdown: str) -> None:
    """Write section ``name`` unless ``--no-report`` was given, and say where it went."""
    if getattr(args, "no_report", False):
        return
    written = write_section(name, markdown, getattr(args, "report", None))
    print(f"wrote section {name!r} of {written}")
