"""The house rules that code review alone would miss: no import circles in ticketlib, at module
or function level (lazy imports count); imports go down the layers of LAYERS, never up; and
every TICKETLIB_* variable read in one place; no module over MAX_LINES lines; no module-global
mutable state (a `global`, or a module-level empty container); the LEAVES (file
names, run configs, atomic I/O, statistics, the method registry) import nothing from ticketlib.

The layers of ticketlib, bottom to top, each a subpackage (a module imports its own layer and
those below; the interface layer is two: ticketlib.sweep and ticketlib.cli):

  foundations  no domain knowledge: settings (environment), paths (file names), atomic file
               I/O, the hub check, the method registry, the paper's numbers, statistics,
               metrics, batching (and the package's __init__: the version)
  core         pruning and training: the prunable set, masks and their files, the Masker, the
               run configs, rewinding, structured pruning and its unit scores, fine-tuning, the
               early-bird rule, IMP, shrink, Wanda, pooling heads
  tasks        the task registry and their data (tasks.data), models and pinned assets, the
               Recipe (a run's parameters: task, model and the core configs) and a run's inputs
  tickets      a ticket and its folder, a run's result rows, and exporting a ticket
  study        experiments, run identity, profiles, the last study, the tables, claims and
               their wording, figures, the report, the summary and the explorer, budgets
  interface    the sweep (ticketlib.sweep) and the command line (ticketlib.cli)

KNOWN_UPWARD would list an upward import allowed for now, each with why (none today); the test
fails on any other, and on a listed one that is gone (so the list is kept true).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ticketlib"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """ticketlib modules imported anywhere in the file (top level, functions, TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` imports the module; `from module import name`, the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph = {module_name(f): imports_of(f, modules) for f in files}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles_in_ticketlib():
    graph = import_graph()
    assert "ticketlib.tickets.ticket" in graph and "ticketlib.core.imp" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


LAYERS = {  # bottom to top: the subpackages of ticketlib (and its two top-level files) in each layer
    "foundations": ["__init__", "foundations"],
    "core": ["core"],
    "tasks": ["tasks"],
    "tickets": ["tickets"],
    "study": ["study"],
    "interface": ["sweep", "cli", "__main__"],
}
KNOWN_UPWARD: set[tuple[str, str]] = set()  # (module, what it imports), each with a comment saying why


RANKS = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names}


def subpackage(module: str) -> str:
    """What places a module in a layer: its subpackage (ticketlib.core.imp -> core)."""
    return module.split(".")[1] if "." in module else "__init__"


def layer_of(graph: dict[str, set[str]]) -> dict[str, int]:
    return {module: RANKS[subpackage(module)] for module in graph}


def upward_imports(graph: dict[str, set[str]], layers: dict[str, int]) -> set[tuple[str, str]]:
    return {
        (module, target) for module, targets in graph.items() for target in targets if layers[target] > layers[module]
    }


def test_every_module_is_in_a_layer_subpackage():
    """No flat modules: each module lives in the subpackage of its layer, which names it."""
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert flat == [], f"modules outside a layer subpackage: {flat}"
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == {name for names in LAYERS.values() for name in names} - {"__init__", "__main__"}
    assert (
        RANKS[subpackage("ticketlib.core.imp")]
        < RANKS[subpackage("ticketlib.tasks.data.loading")]
        < RANKS[subpackage("ticketlib.sweep.driver")]
    )
    unplaced = sorted(module for module in import_graph() if subpackage(module) not in RANKS)
    assert unplaced == [], f"modules in no layer (put each in a subpackage of LAYERS): {unplaced}"


def test_the_layer_check_finds_an_upward_import():
    layers = {"ticketlib.low": 0, "ticketlib.high": 1}
    assert upward_imports({"ticketlib.low": {"ticketlib.high"}, "ticketlib.high": set()}, layers) == {
        ("ticketlib.low", "ticketlib.high")
    }
    assert upward_imports({"ticketlib.low": set(), "ticketlib.high": {"ticketlib.low"}}, layers) == set()


def test_lazy_imports_count():
    source = (PACKAGE / "study" / "overlap.py").read_text()  # builds its model only when asked to
    assert "\n    from ticketlib.tasks.run_inputs import" in source
    assert "\nfrom ticketlib.tasks.run_inputs import" not in source
    assert "ticketlib.tasks.run_inputs" in import_graph()["ticketlib.study.overlap"]


LEAVES = [
    "ticketlib.foundations.paths",
    "ticketlib.foundations.atomic",
    "ticketlib.foundations.stats",
    "ticketlib.foundations.methods",
    "ticketlib.core.config",
]


def test_the_leaves_import_nothing_from_ticketlib():
    graph = import_graph()
    assert {leaf: sorted(graph[leaf]) for leaf in LEAVES if graph[leaf]} == {}


def test_imports_go_down_the_layers():
    graph = import_graph()
    found = upward_imports(graph, layer_of(graph))
    assert found - KNOWN_UPWARD == set(), "upward imports (see LAYERS): " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(found - KNOWN_UPWARD)
    )
    assert KNOWN_UPWARD - found == set(), f"no longer upward, remove from KNOWN_UPWARD: {KNOWN_UPWARD - found}"


MAX_LINES = 400  # a module longer than this mixes concerns: split it by concern


def test_no_module_is_over_the_line_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_environment_variables_are_read_in_one_place():
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "settings.py":
            continue
        if re.search(r"""["']TICKETLIB_[A-Z_]+["']""", path.read_text()):
            readers.append(path.name)
    assert readers == [], f"TICKETLIB_* read outside ticketlib/foundations/settings.py: {readers}"


def module_state(source: str) -> list[str]:
    """Signs of module-global mutable state in a module's source: a `global` statement, or a
    module-level name bound to an empty dict, list or set (a cache or registry filled at run time)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Global):
            found += [f"global {name}" for name in node.names]
    for node in ast.parse(source).body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        literal = isinstance(value, (ast.Dict, ast.List, ast.Set)) and not (
            value.keys if isinstance(value, ast.Dict) else value.elts
        )
        call = (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in ("dict", "list", "set")
            and not value.args
        )
        empty = literal or call
        if empty:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [ast.unparse(t) for t in targets]
    return found


def test_the_state_check_finds_state():
    assert module_state("_CACHE: dict[str, int] = {}\nSEEN = set()\nNAMES = ['a']\n") == ["_CACHE", "SEEN"]
    assert module_state("def f():\n    global _pid\n    _pid = 1\n") == ["global _pid"]


def test_no_module_global_mutable_state():
    state = {
        str(p.relative_to(ROOT)): found for p in sorted(PACKAGE.rglob("*.py")) if (found := module_state(p.read_text()))
    }
    assert state == {}, f"module-global mutable state (pass it, or keep it on an object): {state}"


def test_the_sweep_and_the_command_line_load_no_torch():
    """A sweep driver, its pool workers, a cluster job's wrapper and every `python -m ticketlib`
    call import these: torch and transformers (seconds of start-up each) load only where a run
    trains or evaluates."""
    import subprocess
    import sys

    code = (
        "import sys; import ticketlib.cli.main, ticketlib.tasks.params, ticketlib.study.profiles, "
        "ticketlib.sweep.driver, ticketlib.sweep.execute; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
