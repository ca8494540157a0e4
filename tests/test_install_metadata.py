"""Install metadata that holds: requires-python admits no Python that a pin in constraints.txt
refuses; the torch CPU build comes from PyTorch's CPU index in both install paths; what the
benchmarks import is declared in the `bench` extra."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[name.strip()] = version.strip()
    return found


def test_requires_python_is_the_lowest_python_every_pin_accepts():
    lowest = re.fullmatch(r">=\s*(\d+\.\d+(\.\d+)?)", PROJECT["requires-python"].strip()).group(1)
    refused = []
    for name, version in pins().items():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        wanted = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        if not wanted.contains(lowest, prereleases=True):
            refused.append(f"{name}=={version} ({wanted})")
    assert refused == [], f"requires-python >={lowest} admits a Python these pins refuse"
    assert SpecifierSet(PROJECT["requires-python"]).contains(".".join(map(str, sys.version_info[:3])))


def test_torch_cpu_build_comes_from_the_cpu_index_in_both_install_paths():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert f'TORCH_INDEX="${{TORCH_INDEX:-{CPU_INDEX}}}"' in setup
    assert '--index-url "$TORCH_INDEX" "torch==$TORCH_VERSION"' in setup
    pip = next(
        d["pip"] for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"] if isinstance(d, dict)
    )
    assert f"--extra-index-url {CPU_INDEX}" in pip
    torch = [Requirement(p) for p in pip if p.startswith("torch")]
    assert [str(t.specifier) for t in torch] == ["==2.13.0+cpu"]  # only the CPU index has the +cpu build
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cu" in (ROOT / "docs" / "cluster.md").read_text()


def test_what_the_benchmarks_import_is_declared():
    declared = {
        Requirement(r).name.lower()
        for extra in PROJECT["optional-dependencies"].values()
        for r in extra
        if not r.startswith("bert-tickets")
    } | {Requirement(r).name.lower() for r in PROJECT["dependencies"]}
    imported = set()
    for path in (ROOT / "benchmarks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add(node.module.split(".")[0])
    local = {p.stem for p in (ROOT / "benchmarks").glob("*.py")} | {"ticketlib"}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in local}
    bench = {Requirement(r).name for r in PROJECT["optional-dependencies"]["bench"]}
    assert "psutil" in third_party and "psutil" in bench
    missing = {m for m in third_party if m.lower() not in declared and m.replace("_", "-").lower() not in declared}
    assert missing == set(), missing
