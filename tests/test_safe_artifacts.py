"""No artifact is ever unpickled: ticketlib imports no pickle and calls torch.load only with
weights_only=True (safetensors, JSON and CSV/Parquet are the artifact formats)."""

import ast
from pathlib import Path

SOURCES = sorted((Path(__file__).parents[1] / "ticketlib").rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}


def test_no_pickle_anywhere_in_ticketlib():
    assert SOURCES
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & UNSAFE_MODULES, f"{path}:{node.lineno} imports {names & UNSAFE_MODULES}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("read_pickle", "to_pickle"):
                raise AssertionError(f"{path}:{node.lineno} uses pandas pickling")


def test_torch_load_only_with_weights_only():
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" \
                    and getattr(node.func.value, "id", None) == "torch":
                flags = {k.arg: k.value for k in node.keywords}
                assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True, \
                    f"{path}:{node.lineno}: torch.load without weights_only=True"
