"""Studies that outlive a machine (ticketlib.sweep.shards): shards of a profile run in separate run
stores, exported, imported into one store and merged give the same results and verdicts as the
same runs in one store; a corrupt, truncated or clashing archive writes nothing.

The mechanics run on the toy notebooks of test_sweep (the real sweep, cheap notebooks); one slow
test runs two seed shards of the real notebooks (smoke-sized: IMP and the transfer of its ticket).
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import make_toy_repo, results_without_clock

from ticketlib import sweep
from ticketlib.cli.main import main
from ticketlib.study.profiles import load_profile
from ticketlib.sweep.shards import ShardError, export_shard, import_shard, parse_shard, select_shard

ROOT = Path(__file__).resolve().parent.parent


def toy_runs(toy: Path, store: Path):
    return sweep.expand(load_profile("toy", toy), store, toy)


def run_shard(toy: Path, store: Path, reports: Path, shard: dict | None) -> list[dict]:
    return sweep.run_sweep("toy", store=store, reports=reports, root=toy, html=False, shard=shard)


def tree(store: Path) -> dict[str, bytes]:
    """Every file of a store (locks and staging left out), path -> content."""
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture(scope="module")
def shard_a(tmp_path_factory):
    """The toy study's shard task=a (produce[a], consume[a]) run in its own store and exported."""
    root = tmp_path_factory.mktemp("shard")
    toy = make_toy_repo(root / "repo")
    store = root / "store-a"
    statuses = run_shard(toy, store, root / "reports-a", {"task": "a"})
    assert [s["status"] for s in statuses] == ["ok", "ok"]
    archive = root / "a.tar.gz"
    export_shard(toy_runs(toy, store), {"task": "a"}, store, archive, profile="toy")
    return toy, store, archive


def test_parse_and_select_follow_needs(tmp_path):
    toy = make_toy_repo(tmp_path)
    runs = toy_runs(toy, tmp_path / "store")
    assert parse_shard(["seed=0", "task=sst2"]) == {"seed": 0, "task": "sst2"}
    assert parse_shard(["seed=[0, 1]"]) == {"seed": [0, 1]}
    with pytest.raises(ShardError, match="KEY=VALUE"):
        parse_shard(["seed"])
    with pytest.raises(ShardError, match="twice"):
        parse_shard(["seed=0", "seed=1"])
    assert [r.name for r in select_shard(runs, {"task": ["a", "c"]}).own] == [
        "produce[task=a]",
        "produce[task=c]",
        "consume[task=a]",
        "consume[task=c]",
    ]
    chosen = select_shard(runs, {"task": "b"})
    assert [r.name for r in chosen.own] == ["produce[task=b]", "consume[task=b]"]  # gather: the merge's
    assert chosen.borrowed == []
    with pytest.raises(ShardError, match="selects no run"):
        select_shard(runs, {"task": "z"})
    # by experiment: the runs a later shard adds to an experiment, not the tickets they borrow
    chosen = select_shard(runs, {"experiment": "consume", "task": ["a", "b"]})
    assert [r.name for r in chosen.own] == ["consume[task=a]", "consume[task=b]"]
    assert [r.name for r in chosen.borrowed] == ["produce[task=a]", "produce[task=b]"]


def test_a_shard_borrows_the_runs_it_needs_from_another(tmp_path):
    """Training seed 1 with seed 0's mask (a transfer's recipe seed left at 0): shard seed=1 must
    make seed 0's ticket too; with per-seed needs (SHARDED) the shards share nothing."""
    old_style = SHARDED.replace(
        "seed: [0, 1]}}\n    params: {{at_levels: [1], seeds: null}}",
        "seeds: [[0], [1]]}}\n    params: {{at_levels: [1]}}",
    )
    assert old_style != SHARDED
    for text, borrowed in ((old_style, ["find_tickets[task=squad-qnli, seed=0]"]), (SHARDED, [])):
        (tmp_path / "p.yaml").write_text(text.format(root=ROOT))
        runs = sweep.expand(load_profile(tmp_path / "p.yaml"), tmp_path / "store")
        chosen = select_shard(runs, {"seed": 1})
        assert [r.name for r in chosen.borrowed] == borrowed
        assert {r.name for r in chosen.own} >= {"find_tickets[task=squad-qnli, seed=1]"}


@pytest.mark.xdist_group("shards_a")  # one shard_a per session
def test_export_manifest_and_needed_subfolders(shard_a, tmp_path):
    toy, store, archive = shard_a
    from ticketlib.sweep.shards import describe_manifest

    manifest = describe_manifest(archive)
    assert manifest["shard"] == {"task": "a"} and manifest["unfinished"] == []
    by_name = {e["name"]: e for e in manifest["runs"]}
    assert set(by_name) == {"produce[task=a]", "consume[task=a]"}
    assert {"rows.csv", "params.json", "status.json", "value.json"} <= set(by_name["produce[task=a]"]["files"])
    with pytest.raises(ShardError, match="exists"):
        export_shard(toy_runs(toy, store), {"task": "a"}, store, archive)
    folder = tmp_path / "a-folder"  # the same shard as a folder: the same files
    again = export_shard(toy_runs(toy, store), {"task": "a"}, store, folder)
    assert [e["files"] for e in again["runs"]] == [e["files"] for e in manifest["runs"]]
    assert (folder / "shard.json").is_file()


@pytest.mark.xdist_group("shards_a")  # one shard_a per session
def test_import_is_checked_idempotent_and_refuses_clashes(shard_a, tmp_path):
    toy, store, archive = shard_a
    target = tmp_path / "merged"
    done = import_shard(archive, target)
    assert sorted(done.new) == ["consume[task=a]", "produce[task=a]"] and not done.warnings
    first = tree(target)
    assert {k: v for k, v in tree(store).items() if k in first} == first  # byte for byte the runs' files
    again = import_shard(archive, target)  # idempotent
    assert again.new == [] and sorted(again.present) == sorted(done.new)
    assert tree(target) == first
    assert not [p for p in target.iterdir() if p.name.startswith(".import-")]  # staging removed
    # the same run id with other content: refused, nothing written
    clash = tmp_path / "clash"
    import_shard(archive, clash)
    rows = next(clash.glob("produce/a-*/rows.csv"))
    rows.write_text(rows.read_text().replace("0.5", "0.25"))
    before = tree(clash)
    with pytest.raises(ShardError, match="other content"):
        import_shard(archive, clash)
    assert tree(clash) == before


@pytest.mark.xdist_group("shards_a")  # one shard_a per session
def test_corrupt_or_truncated_archive_writes_nothing(shard_a, tmp_path, capsys):
    toy, store, archive = shard_a
    data = archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    target = tmp_path / "target"
    assert main(["shard", "import", str(truncated), "--store", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "truncated" in err
    assert tree(target) == {} and list(target.iterdir()) == []
    # a member whose bytes changed (the manifest unchanged): its checksum fails
    plain = tmp_path / "plain.tar"
    with tarfile.open(archive) as src, tarfile.open(plain, "w") as out:
        for member in src:
            content = src.extractfile(member).read()
            if member.name.endswith("value.json"):
                content = content.replace(b"0.5", b"0.7")
            member.size = len(content)
            import io

            out.addfile(member, io.BytesIO(content))
    with pytest.raises(ShardError, match="checksum"):
        import_shard(plain, target)
    assert list(target.iterdir()) == []


@pytest.mark.slow  # four toy shard sweeps, the merge and the one-store sweep (about 25 s)
@pytest.mark.essential
def test_toy_shards_merged_equal_one_store(tmp_path):
    toy = make_toy_repo(tmp_path / "repo")
    archives = []
    for task in ("a", "b", "c"):
        store = tmp_path / f"store-{task}"
        run_shard(toy, store, tmp_path / f"reports-{task}", {"task": task})
        archives.append(tmp_path / f"{task}.tar")
        export_shard(toy_runs(toy, store), {"task": task}, store, archives[-1], profile="toy")
    merged = tmp_path / "merged"
    assert main(["shard", "import", *map(str, archives), "--store", str(merged)]) == 0
    statuses = run_shard(toy, merged, tmp_path / "reports-merged", None)
    ran = [s["name"] for s in statuses if not s["skipped"]]
    assert ran == ["gather"], ran  # every shard's run found by its id; only the merge's own run runs
    run_shard(toy, tmp_path / "one", tmp_path / "reports-one", None)
    merged_csv = (tmp_path / "reports-merged" / "results.csv").read_bytes()
    assert merged_csv == (tmp_path / "reports-one" / "results.csv").read_bytes()


SHARDED = """\
extends: {root}/params/smoke.yaml
name: sharded
notebooks: {root}/notebooks
experiments:
  find_tickets: {{grid: {{task: [squad-qnli], seed: [0, 1]}}}}  # the transfer's source: its tickets
  baselines: {{enabled: false}}
  transfer:
    grid: {{task: [rt-sentiment], source_task: [squad-qnli], seed: [0, 1]}}
    params: {{at_levels: [1], seeds: null}}
    needs:
      ticket: {{experiment: find_tickets, match: {{task: source_task, seed: seed}}}}
  rewinding: {{enabled: false}}
  explore: {{enabled: false}}
  summary: {{enabled: false}}
"""


def _verdicts(path: Path) -> list[tuple]:
    """Each claim's verdict and each task's, and the paper's matching table."""
    from ticketlib.study.claims import judge

    judgement = judge(pd.read_csv(path))
    return [(c.number, c.verdict, [(t.task, t.verdict) for t in c.tasks]) for c in judgement.claims] + [
        judgement.matching.to_csv(index=False)
    ]


@pytest.mark.slow  # 8 smoke-sized runs of the real notebooks (about 60 s on 2 cores)
def test_real_seed_shards_merged_equal_one_store(tmp_path):
    """Two seed shards of IMP and per-seed transfer in two stores, exported, imported, merged: the
    same results (bit for bit, but for the wall-clock column) and verdicts as one store."""
    profile = tmp_path / "sharded.yaml"
    profile.write_text(SHARDED.format(root=ROOT))
    for seed in (0, 1):
        code = sweep.main_sweep(
            str(profile),
            store=tmp_path / f"s{seed}",
            reports=tmp_path / f"r{seed}",
            jobs=2,
            build_report=False,
            shard={"seed": seed},
        )
        assert code == 0
        assert (
            main(
                [
                    "shard",
                    "export",
                    str(profile),
                    "--shard",
                    f"seed={seed}",
                    "--store",
                    str(tmp_path / f"s{seed}"),
                    "--out",
                    str(tmp_path / f"seed{seed}.tar.gz"),
                ]
            )
            == 0
        )
    from ticketlib.sweep.shards import describe_manifest

    for entry in describe_manifest(tmp_path / "seed1.tar.gz")["runs"]:  # no run outside its shard needs it
        assert not entry["whole"] and not [f for f in entry["files"] if "/" in f], entry["name"]
    assert (
        main(
            [
                "shard",
                "import",
                str(tmp_path / "seed0.tar.gz"),
                str(tmp_path / "seed1.tar.gz"),
                "--store",
                str(tmp_path / "merged"),
            ]
        )
        == 0
    )
    statuses = sweep.run_sweep(profile, store=tmp_path / "merged", reports=tmp_path / "rm", html=False)
    assert all(s["status"] == "ok" and s["skipped"] for s in statuses)  # nothing redone
    assert (
        sweep.main_sweep(str(profile), store=tmp_path / "one", reports=tmp_path / "r1", jobs=2, build_report=False) == 0
    )
    merged, one = tmp_path / "rm" / "results.csv", tmp_path / "r1" / "results.csv"
    assert results_without_clock(merged) == results_without_clock(one)
    assert _verdicts(merged) == _verdicts(one)
    from ticketlib.study.claims import judge

    matching = judge(pd.read_csv(merged)).matching.set_index("task")  # the merge feeds the verdicts both shards
    assert list(matching.index) == ["squad-qnli"] and matching.loc["squad-qnli", "full seeds"] == 2
    transfer = pd.read_csv(merged).query("method == 'transfer'")
    assert (transfer["mask_seed"] == transfer["seed"]).all() and set(transfer["seed"]) == {0, 1}
    shutil.rmtree(tmp_path / "one")
