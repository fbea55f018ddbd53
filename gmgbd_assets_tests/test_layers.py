"""The package's layers hold: a core that knows no feature, features that know only what is upstream of them.

Every ``import`` and ``from … import`` of every module is read from its source (those inside functions too), so a
lazy import cannot hide a dependency. The rules, from ``docs/layout.md``:
- ``gmgbd_assets.core`` imports no feature, no emulator and not the definitions;
- a feature imports the core and the features before it in ``definitions.FEATURES`` (the data-flow order),
  never one after it, never the emulators;
- only the CLIs (modules run with ``python -m``, and the ``deploy`` package) and the package ``__init__`` import
  ``gmgbd_assets.definitions``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gmgbd_assets
from gmgbd_assets.definitions import FEATURES

PACKAGE = Path(gmgbd_assets.__file__).parent
CORE = "core"
EMULATORS = "emulators"
DEPLOY = "deploy"
# automation (schedules, sensors, lake maintenance) is wired over the whole graph, after every feature.
ORDER = [*(feature.name for feature in FEATURES), "automation"]


def _package_or_version(target: str) -> bool:
    """The package itself (its ``__init__``) and the version are the only top-level modules below the CLIs."""
    return target == "gmgbd_assets" or target.split(".")[:2] == ["gmgbd_assets", "version"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``gmgbd_assets`` module ``path`` imports, anywhere in it; ``from X import y`` counts X and X.y."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "gmgbd_assets"}


def layer(module: str) -> str:
    """``core``, a feature's name, ``emulators``, ``deploy``, or ``top`` for a module at the package's top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "top"


MODULES = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def violations(modules: dict[str, set[str]], order: list[str]) -> list[str]:
    """What breaks the layer rules, one line per import."""
    found = []
    for module, imported in modules.items():
        own = layer(module)
        is_cli = own == DEPLOY or module == "gmgbd_assets" or _runs_as_main(module)
        for target in sorted(imported):
            other = layer(target)
            if target == "gmgbd_assets.definitions" and not is_cli and module != target:
                found.append(f"{module} imports the definitions")
            if own == CORE and other != CORE and not _package_or_version(target):
                found.append(f"core module {module} imports {target}")
            if own in order and other == EMULATORS:
                found.append(f"feature module {module} imports the emulator {target}")
            if own in order and other in order and order.index(other) > order.index(own):
                found.append(f"feature {own} ({module}) imports {target} of the downstream feature {other}")
            if own in order and other == "top" and not _package_or_version(target):
                found.append(f"feature module {module} imports the top-level {target}")
    return found


def _runs_as_main(module: str) -> bool:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    return path.is_file() and '__name__ == "__main__"' in path.read_text(encoding="utf-8")


def test_every_feature_folder_is_a_feature_of_the_definitions() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} - {CORE, EMULATORS, DEPLOY}
    assert folders == set(ORDER)
    for name in [CORE, *ORDER]:
        assert any(layer(m) == name for m in MODULES if m.count(".") == 2), f"{name} holds no module"


def test_the_package_keeps_its_layers() -> None:
    assert violations(MODULES, ORDER) == []


@pytest.mark.parametrize(
    ("module", "imported", "expected"),
    [
        ("gmgbd_assets.core.checks", "gmgbd_assets.dataset.gmgbd", "core module"),
        ("gmgbd_assets.core.http", "gmgbd_assets.emulators.router", "core module"),
        ("gmgbd_assets.observations.sources", "gmgbd_assets.exports.card", "downstream feature"),
        ("gmgbd_assets.weather.sources", "gmgbd_assets.emulators.open_meteo", "imports the emulator"),
        ("gmgbd_assets.media.images", "gmgbd_assets.definitions", "imports the definitions"),
    ],
)
def test_a_broken_rule_is_reported(module: str, imported: str, expected: str) -> None:
    """The rules are not vacuous: one bad import of each kind is named."""
    found = violations({module: {imported}}, ORDER)
    assert any(expected in line for line in found), found


def test_an_allowed_import_is_not_reported() -> None:
    allowed = {
        "gmgbd_assets.exports.card": {"gmgbd_assets.dataset.gmgbd", "gmgbd_assets.core.markdown"},
        "gmgbd_assets.emulators.resources": {"gmgbd_assets.weather.open_meteo"},
        "gmgbd_assets.refill_cli": {"gmgbd_assets.definitions"},
    }
    assert violations(allowed, ORDER) == []
