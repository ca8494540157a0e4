"""SIGKILL an IMP run at many points (training, pruning, writing, random times), resume it,
and check that finished levels are reused, nothing half-written is read, and the final masks
and metrics equal those of an uninterrupted run bit for bit."""

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ticketlib.mask_files import load_mask
from ticketlib.store import read_json

CHILD = [sys.executable, str(Path(__file__).with_name("imp_child.py"))]


def run_child(run_dir, *kill):
    return subprocess.run(CHILD + [str(run_dir), *map(str, kill)], capture_output=True, text=True, timeout=300)


def finished_levels(run_dir):
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(run_dir).glob("level_*/level.json")}


def final_state(run_dir):
    levels = sorted(Path(run_dir).glob("level_*"))
    return ([{k: v.tolist() for k, v in load_mask(d / "mask.safetensors")[0].items()} for d in levels],
            [read_json(d / "level.json")["metrics"] for d in levels])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    assert run_child(run_dir).returncode == 0
    return final_state(run_dir)


KILLS = [("train", 1), ("train", 9), ("train", 20), ("prune", 1), ("prune", 3),
         ("write", 1), ("write", 4), ("write", 8), ("write", 12)]


@pytest.mark.parametrize("kill", KILLS + [("random", seed) for seed in range(3)], ids=str)
def test_sigkill_then_resume(tmp_path, reference, kill):
    phase, n = kill
    if phase == "random":
        process = subprocess.Popen(CHILD + [str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.Random(n).uniform(3.0, 8.0))  # start-up takes ~3 s, the run a few more
        process.kill()
        process.wait()
    else:
        result = run_child(tmp_path, phase, n)
        assert result.returncode == -9, (result.returncode, result.stderr[-2000:])
    # Whatever exists under a final name is complete and readable.
    for mask_file in tmp_path.glob("level_*/mask.safetensors"):
        load_mask(mask_file)
    before = finished_levels(tmp_path)
    assert run_child(tmp_path).returncode == 0
    after = finished_levels(tmp_path)
    for level, stamp in before.items():
        assert after[level] == stamp, f"{level} was finished before the kill but was redone"
    assert final_state(tmp_path) == reference


def test_two_fresh_processes_give_bit_identical_masks_and_metrics(tmp_path, reference):
    assert run_child(tmp_path).returncode == 0
    assert final_state(tmp_path) == reference
