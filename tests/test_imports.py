"""The package's import graph: no cycles, counting imports inside functions too (a function-level import may put off
a heavy dependency, never hide a cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_evalkit_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# The packages from the ground floor up: a module may import from its own package and from those below it, never
# from one above (README "Layout", docs/architecture.md). Top-level modules count as their own "package".
LAYERS = (
    "evalkit.errors",
    "evalkit.config",
    "evalkit.phi3v",
    "evalkit.data",
    "evalkit.scoring",
    "evalkit.records",
    "evalkit.gates",
    "evalkit.reports",
    "evalkit.run",
    "evalkit.cli",
    "evalkit.__main__",
)


def _layer(module: str) -> int | None:
    for index, name in enumerate(LAYERS):
        if module == name or module.startswith(name + "."):
            return index
    return None  # the package face (evalkit/__init__.py: the version only)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        here = _layer(module)
        for target in sorted(targets):
            there = _layer(target)
            if here is not None and there is not None and there > here:
                out.append(f"{module} -> {target}")
    return out


def test_every_module_belongs_to_a_layer():
    assert [m for m in import_graph() if _layer(m) is None] == ["evalkit"]


def test_imports_flow_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_sees_an_upward_import():
    assert upward_imports({"evalkit.records.files": {"evalkit.run.runner", "evalkit.scoring.metrics"}}) == [
        "evalkit.records.files -> evalkit.run.runner"
    ]


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (names printed one per line)."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent,
    )  # fmt: skip
    return set(out.stdout.split())


HEAVY = ("torch", "transformers", "hydra", "evalkit.phi3v", "pandas", "matplotlib", "datasets")


def test_scoring_and_records_are_a_ground_floor():
    """Scoring an answer and reading a run record need neither torch nor the model (nor pandas or Hydra)."""
    loaded = _modules_after(
        "import evalkit.scoring.metrics, evalkit.scoring.statistics, evalkit.records, evalkit.gates"
    )
    assert [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("evalkit.phi3v")] == []


def test_help_and_version_import_nothing_heavy():
    """`evalkit --help` / `--version` answer from the command table and package metadata alone (well under 1.5 s:
    they import neither torch, nor transformers, nor Hydra)."""
    for flag in ("--help", "--version"):
        loaded = _modules_after(
            f"import contextlib, io\nfrom evalkit.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    main([{flag!r}])"
        )
        assert [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("evalkit.phi3v")] == [], flag
