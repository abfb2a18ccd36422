"""The skeleton's boundaries, read from the source (``ast``), never by importing it.

- A system (``herd/<system>/``: scan, places, and those to come) imports only itself,
  ``herd.core`` and ``herd.protocols``: never another system, never ``herd.testing``.
- ``herd.core`` and ``herd.protocols`` import no system (nor ``herd.testing``).
- A codec (``herd/protocols/*.py``) imports no Twisted: pure parse and format. The one
  exception is ``twisted.protocols.amp``: an AMP wire format is declared as ``Command``
  classes (imaging), declarations with no I/O.
- No module is named ``protocol.py`` (Protocol classes live in ``connection.py`` or
  ``<what>_connection.py``, so they never share a name with a codec).

``herd.testing`` may import anything: it starts whole systems for tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERD = Path(__file__).resolve().parent.parent / "herd"
SHARED = {"core", "protocols"}
NOT_SYSTEMS = SHARED | {"testing"}
AMP = "twisted.protocols.amp"  # AMP Command declarations are a wire format


def module_name(root: Path, path: Path) -> str:
    """``herd/scan/worker/tap.py`` -> ``herd.scan.worker.tap`` (``__init__`` is the package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), at any depth in the file."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module in ("herd", "twisted") or module.startswith("twisted."):  # from herd import scan
                found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.add(module)
    return found


def part_of(module: str) -> str | None:
    """The top-level package of herd a module belongs to (``scan``, ``core``...), or None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "herd" else None


def violations(root: Path) -> list[str]:
    """Every broken rule under ``root`` (a ``herd/`` folder), as readable lines."""
    systems = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - NOT_SYSTEMS
    found = []
    for path in sorted(root.rglob("*.py")):
        where = module_name(root, path)
        home = part_of(where)
        if path.name == "protocol.py":
            found.append(f"{where}: name it connection.py (protocol.py reads like a codec)")
        for imported in sorted(imports(root, path)):
            target = part_of(imported)
            if target is None:
                if home == "protocols" and imported.split(".")[0] == "twisted" and not (
                        imported == AMP or imported.startswith(AMP + ".")):
                    found.append(f"{where} imports {imported}: a codec imports no Twisted")
                continue
            if home in systems and (target in systems - {home} or target == "testing"):
                found.append(f"{where} imports {imported}: a system imports only itself, core and protocols")
            elif home in SHARED and (target in systems or target == "testing"):
                found.append(f"{where} imports {imported}: herd.{home} imports no system")
    return sorted(set(found))


def test_herd_keeps_its_boundaries() -> None:
    assert (HERD / "scan").is_dir() and (HERD / "places").is_dir()
    assert violations(HERD) == []


@pytest.mark.parametrize("module, source, complaint", [
    ("places/server/provider.py", "from herd.scan.fetch import fetch\n", "a system imports only itself"),
    ("places/server/provider.py", "import herd.scan.fetch\n", "a system imports only itself"),
    ("places/server/provider.py", "def f():\n    from herd import scan\n", "a system imports only itself"),
    ("places/server/provider.py", "from ...scan import fetch\n", "a system imports only itself"),
    ("scan/worker/tap.py", "from herd.testing.processes import free_port\n", "a system imports only itself"),
    ("core/fetch.py", "from herd.places.topology import DEFAULT\n", "herd.core imports no system"),
    ("protocols/places.py", "from herd.scan.worker import scanner\n", "herd.protocols imports no system"),
    ("protocols/places.py", "from twisted.internet import reactor\n", "a codec imports no Twisted"),
    ("protocols/places.py", "from twisted.protocols import basic\n", "a codec imports no Twisted"),
    ("places/server/protocol.py", "x = 1\n", "name it connection.py"),
])
def test_a_broken_boundary_is_found(tmp_path: Path, module: str, source: str, complaint: str) -> None:
    root = tmp_path / "herd"
    for package in ("", "core", "protocols", "testing", "scan", "scan/worker", "places", "places/server"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "places" / "server" / "tap.py").write_text("from herd.core.http import http_client\n"
                                                      "from herd.protocols.places import At\n"
                                                      "from . import provider\n")
    (root / "testing" / "scan.py").write_text("from herd.scan.worker import tap\n")
    assert violations(root) == []
    (root / module).write_text(source)
    found = violations(root)
    assert len(found) == 1 and complaint in found[0], found
