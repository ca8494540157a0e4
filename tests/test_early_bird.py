"""Early-bird tickets (issue 21 item 1; ticketlib.core.early_bird): the mask distance and the stopping
rule exactly, on hand-made masks and distances; the option off gives today's IMP run bit for bit
(and today's manifests and run ids); on, the levels below the last stop early, the final level
trains its full budget, and the run is deterministic and resumes; bad values fail early."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import synthetic_features, tiny_model
from helpers import accuracy

from ticketlib.cli.main import build_parser, recipe_from_args
from ticketlib.core.config import EarlyBird, IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.early_bird import MaskWatch, early_bird_stop, mask_distance
from ticketlib.core.imp import run_imp
from ticketlib.core.mask_io import load_mask
from ticketlib.core.train import fine_tune
from ticketlib.foundations.atomic import canonical, read_json
from ticketlib.tasks.params import Recipe

TRAIN = TrainConfig(learning_rate=1e-3, max_steps=24, batch_size=16, seed=0, progress=False)
RULE = EarlyBird(every=2, epsilon=0.05, patience=3)


def config(levels: int = 3, **kwargs) -> IMPConfig:
    return IMPConfig(prune=PruneConfig(levels=levels, rate=0.2), train=TRAIN, **kwargs)


@pytest.fixture(scope="module")
def data():
    return synthetic_features(128, seed=0), synthetic_features(64, seed=1)


def masks_of(run_dir, levels):
    return [load_mask(run_dir / f"level_{k:02d}" / "mask.safetensors")[0] for k in range(levels + 1)]


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_masks(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(same_tensors(x, y) for x, y in zip(a, b))


def without_timings(rows):
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in rows]


# --- the rule, exactly ------------------------------------------------------------------------


def test_mask_distance_is_the_share_of_weights_that_changed_state():
    t, f = True, False
    a = {"x": torch.tensor([[t, t], [f, t]]), "y": torch.tensor([t, f, f])}
    b = {"x": torch.tensor([[t, f], [f, t]]), "y": torch.tensor([f, f, t])}
    assert mask_distance(a, b) == 3 / 7 == mask_distance(b, a)
    assert mask_distance(a, a) == 0.0
    assert mask_distance(a, {k: ~m for k, m in a.items()}) == 1.0
    with pytest.raises(ValueError, match="different parameters"):
        mask_distance(a, {"x": b["x"]})
    with pytest.raises(ValueError, match="shape"):
        mask_distance(a, {"x": b["x"].flatten(), "y": b["y"]})


def test_the_stopping_rule_on_hand_made_distances():
    # a run of two below epsilon is broken by 0.2; the next run of three completes at index 6
    distances = [0.3, 0.05, 0.04, 0.2, 0.01, 0.02, 0.03, 0.0]
    assert early_bird_stop(distances, epsilon=0.1, patience=3) == 6
    assert early_bird_stop(distances, epsilon=0.1, patience=2) == 2
    assert early_bird_stop(distances, epsilon=0.1, patience=1) == 1
    assert early_bird_stop(distances, epsilon=0.1, patience=5) is None
    assert early_bird_stop(distances, epsilon=0.25, patience=3) == 3  # 0.2 is below 0.25: no break
    assert early_bird_stop([0.2, 0.15, 0.11, 0.3] * 5, epsilon=0.1, patience=1) is None  # oscillates above
    assert early_bird_stop([0.05, 0.2] * 10, epsilon=0.1, patience=2) is None  # below, but never twice in a row
    assert early_bird_stop([0.1, 0.1, 0.1], epsilon=0.1, patience=1) is None  # "below" is strict
    assert early_bird_stop([0.0] * 10, epsilon=0.0, patience=1) is None  # epsilon 0: never stops
    assert early_bird_stop([], epsilon=0.1, patience=1) is None
    with pytest.raises(ValueError, match="epsilon"):
        early_bird_stop(distances, epsilon=1.0, patience=3)
    with pytest.raises(ValueError, match="patience"):
        early_bird_stop(distances, epsilon=0.1, patience=0)


def test_the_watch_draws_every_k_steps_and_stops_on_a_hand_made_sequence_of_masks():
    """Masks of 10 weights drawn at steps 2, 4, 6, ...: distances 0.3, 0.1, 0.0, 0.1; with epsilon
    0.15 and patience 3 the third distance in a row below it (at the fifth draw, step 10) stops
    training."""

    def bits(text):
        return {"w": torch.tensor([c == "1" for c in text])}

    sequence = iter(
        [
            bits("1111111111"),
            bits("1111111000"),
            bits("1111110000"),
            bits("1111110000"),
            bits("1111100000"),
            bits("1111100000"),
        ]
    )
    watch = MaskWatch(lambda model: next(sequence), EarlyBird(epsilon=0.15, patience=3), every=2)
    assert next(step for step in range(1, 13) if watch(step, None)) == 10 and watch.stopped
    assert watch.distances == [0.3, 0.1, 0.0, 0.1]
    assert same_tensors(watch.last, bits("1111100000"))

    sequence = iter([bits("1111111111")] * 6)
    late = MaskWatch(lambda model: next(sequence), EarlyBird(epsilon=0.15, patience=1), every=2, min_steps=7)
    assert [late(step, None) for step in range(1, 9)] == [False] * 7 + [True]  # fired at step 4, held until 7


def test_fine_tune_stops_when_on_step_says_so(data):
    train, dev = data
    evaluated = []
    result = fine_tune(
        tiny_model(),
        train,
        TRAIN,
        evaluate=lambda m: evaluated.append(1) or accuracy(dev)(m),
        on_step=lambda step, model: step == 5,
    )
    assert result.steps == 5 and len(result.losses) == 5 and evaluated == [1]


# --- off: today's run -------------------------------------------------------------------------


def test_off_records_nothing_new_so_old_manifests_and_run_ids_stand():
    # what an IMP manifest held before the option: these four keys
    assert sorted(canonical(IMPConfig())) == ["head_policy", "prune", "rewind_step", "train"]
    assert canonical(IMPConfig(early_bird_options=EarlyBird(patience=9))) == canonical(IMPConfig())
    on = canonical(IMPConfig(early_bird=True))
    assert on["early_bird"] is True and on["early_bird_options"] == {
        "every": None,
        "epsilon": 0.1,
        "patience": 5,
        "evaluate_levels": False,
    }
    recipe = Recipe()
    assert not [k for k in recipe.identity() if k.startswith("early_bird")]
    assert recipe.identity() == {
        k: v
        for k, v in recipe.as_dict().items()
        if k not in ("device", "threads") and not k.startswith(("early_bird", "structured_"))
    }
    assert Recipe(early_bird_patience=9).identity() == recipe.identity()  # off: the rule's values do not count
    assert Recipe(early_bird=True).identity() != recipe.identity()
    assert Recipe(early_bird=True).identity() != Recipe(early_bird=True, early_bird_patience=9).identity()
    assert canonical(recipe.imp_config()) == canonical(dataclasses.replace(recipe.imp_config(), early_bird=False))


def test_off_gives_todays_run_and_drawing_masks_changes_nothing(tmp_path, data):
    """The default run against a run whose rule can never fire (epsilon 0) but draws and compares
    the next mask every 3 steps and evaluates every level: the same masks, metrics and final
    weights, bit for bit. The default run's manifest and rows hold nothing new."""
    train, dev = data
    models, rows = [tiny_model(), tiny_model()], []
    configs = [
        config(levels=1),
        config(levels=1, early_bird=True, early_bird_options=EarlyBird(every=3, epsilon=0.0, evaluate_levels=True)),
    ]
    for name, model, cfg in zip("ab", models, configs):
        rows.append(run_imp(model, train, accuracy(dev), cfg, tmp_path / name))
    assert same_masks(masks_of(tmp_path / "a", 1), masks_of(tmp_path / "b", 1))
    assert same_tensors(models[0].state_dict(), models[1].state_dict())
    assert [r["metrics"] for r in rows[0]] == [r["metrics"] for r in rows[1]] and rows[0][0]["metrics"]
    assert [r["steps"] for r in rows[1]] == [24, 24] and not any(r["stopped_early"] for r in rows[1])
    assert [len(r["mask_distances"]) for r in rows[1]] == [7, 0]  # 8 draws at level 0, none at the last
    assert sorted(read_json(tmp_path / "a" / "manifest.json")["config"]) == [
        "head_policy",
        "prune",
        "rewind_step",
        "train",
    ]
    assert not [k for r in rows[0] for k in r if k in ("budget_steps", "stopped_early", "mask_distances")]


# --- on ---------------------------------------------------------------------------------------


def test_on_stops_the_levels_below_the_last_and_is_deterministic_and_resumes(tmp_path, data):
    train, dev = data
    cfg = config(early_bird=True, early_bird_options=RULE)
    model = tiny_model()
    rows = run_imp(model, train, accuracy(dev), cfg, tmp_path / "a")
    final = {k: v.clone() for k, v in model.state_dict().items()}
    *early, last = rows
    for row in early:
        assert row["stopped_early"] and row["steps"] < row["budget_steps"] == 24, row
        # the stop is the rule's, applied to the recorded distances (a draw every 2 steps)
        assert row["steps"] == RULE.every * (early_bird_stop(row["mask_distances"], RULE.epsilon, RULE.patience) + 2)
        assert row["metrics"] == {}  # not evaluated unless asked (evaluate_levels)
    assert last["steps"] == last["budget_steps"] == 24 and not last["stopped_early"] and last["mask_distances"] == []
    assert "accuracy" in last["metrics"]
    assert sum(r["steps"] for r in rows) < sum(r["budget_steps"] for r in rows)
    assert [round(r["sparsity"], 3) for r in rows] == [0.0, 0.2, 0.4, 0.6]

    masks = masks_of(tmp_path / "a", 3)
    again = tiny_model()
    assert without_timings(run_imp(again, train, accuracy(dev), cfg, tmp_path / "b")) == without_timings(rows)
    assert same_masks(masks, masks_of(tmp_path / "b", 3)) and same_tensors(final, again.state_dict())

    # resume: an early-stopped level and the final one re-run, to the same masks and weights
    for level in (2, 3):
        (tmp_path / "b" / f"level_{level:02d}" / "level.json").unlink()
    resumed = tiny_model()
    assert without_timings(run_imp(resumed, train, accuracy(dev), cfg, tmp_path / "b")) == without_timings(rows)
    assert same_masks(masks, masks_of(tmp_path / "b", 3)) and same_tensors(final, resumed.state_dict())

    with pytest.raises(ValueError, match="different config"):  # another rule is another run
        run_imp(
            tiny_model(), train, None, config(early_bird=True, early_bird_options=EarlyBird(every=2)), tmp_path / "a"
        )
    with pytest.raises(ValueError, match="different config"):
        run_imp(tiny_model(), train, None, config(), tmp_path / "a")


def test_level_zero_does_not_stop_before_theta_i_is_saved(tmp_path, data):
    train, _ = data
    settled = EarlyBird(every=2, epsilon=0.9, patience=1)  # fires at the second draw, step 4
    rows = run_imp(
        tiny_model(),
        train,
        None,
        config(levels=1, rewind_step=10, early_bird=True, early_bird_options=settled),
        tmp_path,
    )
    assert rows[0]["steps"] == 10 and rows[0]["stopped_early"] and (tmp_path / "theta_i.safetensors").exists()
    assert rows[1]["steps"] == 24


# --- the option on the recipe and the command line; bad values -------------------------------


def test_the_recipe_and_the_command_line_carry_the_option():
    args = build_parser().parse_args(
        [
            "imp",
            "--early-bird",
            "--early-bird-every",
            "3",
            "--early-bird-patience",
            "2",
            "--early-bird-epsilon",
            "0.05",
            "--early-bird-evaluate-levels",
        ]
    )
    imp = recipe_from_args(args).imp_config()
    assert imp.early_bird and imp.early_bird_options == EarlyBird(
        every=3, epsilon=0.05, patience=2, evaluate_levels=True
    )
    default = recipe_from_args(build_parser().parse_args(["imp"])).imp_config()
    assert not default.early_bird and default.early_bird_options == EarlyBird()
    for name in ("every", "epsilon", "patience", "evaluate_levels"):
        assert (
            Recipe.field(f"early_bird_{name}").metadata["help"] == EarlyBird.__dataclass_fields__[name].metadata["help"]
        )


@pytest.mark.parametrize(
    "field, value",
    [
        ("every", 0),
        ("every", 2.5),
        ("epsilon", 1.0),
        ("epsilon", -0.01),
        ("epsilon", True),
        ("patience", 0),
        ("patience", 1.5),
    ],
)
def test_bad_values_fail_early_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"early_bird_{field}"):
        EarlyBird(**{field: value})
    with pytest.raises(ValueError, match=f"early_bird_{field}"):
        Recipe(**{f"early_bird_{field}": value})


def test_the_options_must_be_an_early_bird_config():
    with pytest.raises(ValueError, match="early_bird_options"):
        IMPConfig(early_bird=True, early_bird_options={"every": 2})
