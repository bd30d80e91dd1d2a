"""The packages' rooms import only the rooms below them (imports inside functions included),
no module imports itself back through others, and every import left inside a function says
why on its line."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# Top to bottom; a room imports rooms of lower rank, and itself.
ORDER = (
    ("ablations.__main__",),
    ("ablations.cli",),
    ("ablations.commands",),
    ("ablations.launchers",),
    ("ablations.engine",),
    ("ablations.tracking", "ablations.training"),
    ("ablations.experiment", "ablations.runtime"),
    ("ablations.errors", "ablations.wording", "ablations"),  # "ablations": its __init__ alone
    ("senet_core",),
)
RANK = {room: rank for rank, rooms in enumerate(ORDER) for room in rooms}
# The report reads what the sweeps wrote; it never launches, queues or trains.
REPORT_MAY_IMPORT = ("report", "ablations.tracking", "ablations.training", "ablations.experiment", "ablations.runtime",
                     "ablations.errors", "ablations.wording", "senet_core")
PACKAGES = ("ablations", "report", "senet_core")


def room(module: str) -> str:
    """The room a module is in; every module must be in one (a new room goes into ORDER)."""
    rooms = [r for r in (*RANK, "report") if module == r or (r != "ablations" and module.startswith(r + "."))]
    assert rooms, f"{module} is in none of the rooms of tests/test_layers.py"
    return max(rooms, key=len)


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, ast.stmt]]:
    """(imported project module, the statement) for every import in ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found += [(n, node) for n in names if n.split(".")[0] in PACKAGES]
    return found


def test_every_import_goes_down_the_rooms():
    known = modules()
    wrong = []
    for module, path in known.items():
        here = room(module)
        for target, node in imports(module, path, known):
            there = room(target)
            ok = there in REPORT_MAY_IMPORT if here == "report" else (
                there == here or (there in RANK and RANK[there] > RANK[here]))
            if not ok:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    known = modules()
    graph = {m: {t for t, _ in imports(m, p, known) if t in known and t != m} for m, p in known.items()}
    # A package's __init__ may import its own modules; those importing the package back is
    # Python's normal package initialisation, not a cycle.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> list[str] | None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return [*trail[trail.index(t):], t] if t in trail else [m, t]
            if t not in state and (cycle := visit(t, [*trail, t])):
                return cycle
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m, [m])):
            raise AssertionError(" -> ".join(cycle))


def test_imports_inside_functions_say_why():
    silent = []
    for path in modules().values():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                silent += [f"{path.relative_to(ROOT)}:{sub.lineno}: {lines[sub.lineno - 1].strip()}"
                           for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom)
                           and "#" not in lines[sub.lineno - 1]]
    assert not silent, "\n".join(silent)
