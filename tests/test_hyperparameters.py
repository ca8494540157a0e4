"""One definition per hyperparameter (issue 13): TrainConfig/PruneConfig/IMPConfig carry the help
text and the paper's defaults; Recipe reuses their help and choices, with named offline defaults;
`ticketlib imp`'s flags are generated from Recipe, so the command line's defaults are the recipe's."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from ticketlib.cli.main import build_parser, flag, recipe_from_args
from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.tasks.params import Recipe, recipe_cell, recipe_help

CONFIGS = (TrainConfig, PruneConfig, IMPConfig)


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


def test_every_field_has_one_line_help():
    for cls in CONFIGS + (Recipe,):
        for field in dataclasses.fields(cls):
            text = field.metadata.get("help")
            assert isinstance(text, str) and text.strip() and "\n" not in text, f"{cls.__name__}.{field.name}"
    assert recipe_help("rate").startswith(PruneConfig.__dataclass_fields__["rate"].metadata["help"])


def test_recipe_reuses_the_configs_help_and_names_every_offline_difference():
    configs = {f.name: (cls, f) for cls in CONFIGS for f in dataclasses.fields(cls)}
    shared = [f for f in dataclasses.fields(Recipe) if f.name in configs]
    assert {f.name for f in shared} >= {"learning_rate", "epochs", "levels", "rate", "include_pooler", "head_policy"}
    for field in shared:
        cls, source = configs[field.name]
        assert field.metadata["help"].startswith(source.metadata["help"]), field.name
        if field.default != source.default:  # a deliberate offline difference, named in the help
            assert field.metadata["paper_default"] == source.default, field.name
            assert f"paper {source.default!r}" in field.metadata["help"], field.name
        else:
            assert "paper_default" not in field.metadata, field.name
    differences = {f.name for f in shared if "paper_default" in f.metadata}
    assert differences == {"learning_rate", "epochs", "levels", "rate", "include_pooler"}


def test_imp_flags_are_the_recipes_fields_with_its_defaults_and_choices():
    flags = options(subcommand("imp"))
    assert set(flags) == set(Recipe.names()) | {"run_dir"}
    for field in dataclasses.fields(Recipe):
        action = flags[field.name]
        assert flag(field.name) in action.option_strings, field.name
        assert action.default == field.default, field.name
        assert field.metadata["help"].replace("%", "%%") in action.help, field.name
        assert tuple(action.choices or ()) == tuple(field.metadata.get("choices") or ()), field.name
        if field.type == "bool":
            assert isinstance(action, argparse.BooleanOptionalAction), field.name
    args = build_parser().parse_args(["imp"])
    assert recipe_from_args(args) == Recipe()  # no flag: the recipe's defaults (rate 0.2, pooler not pruned)


def test_flags_parse_into_the_recipe():
    args = build_parser().parse_args(
        [
            "imp",
            "--rate",
            "0.1",
            "--include-pooler",
            "--max-steps",
            "7",
            "--num-layers",
            "none",
            "--learning-rate",
            "2e-5",
            "--task",
            "squad-qnli",
        ]
    )
    recipe = recipe_from_args(args)
    assert (recipe.rate, recipe.include_pooler, recipe.max_steps, recipe.num_layers) == (0.1, True, 7, None)
    assert (recipe.learning_rate, recipe.task) == (2e-5, "squad-qnli")
    assert recipe_from_args(build_parser().parse_args(["imp", "--no-include-pooler"])).include_pooler is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["imp", "--scope", "sideways"])


def test_check_mask_flags_come_from_the_recipe_too():
    flags = options(subcommand("check-mask"))
    assert set(flags) == {"model", "task", "num_layers", "include_pooler", "pooling"}
    assert all(flags[n].default == Recipe.field(n).default for n in flags)


def test_pooling_defaults_to_the_models_own():
    """The offline MiniLM-L6 was pre-trained mean-pooled and its pooler never trained: `mean` by
    default, as in every offline profile; any other model (the paper's BERT) gets [CLS]."""
    assert Recipe.field("pooling").default is None
    assert Recipe().pooling == "mean" and Recipe().model == "offline-minilm"
    assert Recipe(model="bert-base-uncased").pooling == "cls"
    assert Recipe(pooling="cls").pooling == "cls"
    assert Recipe(model="bert-base-uncased", pooling="mean").pooling == "mean"
    args = build_parser().parse_args(["imp"])
    assert recipe_from_args(args).pooling == "mean"


def test_recipe_cell_is_valid_python_giving_the_recipe():
    namespace: dict = {}
    exec(recipe_cell({"task": "squad-qnli", "levels": 1}), {}, namespace)
    assert set(namespace) == set(Recipe.names())
    assert Recipe.from_namespace(namespace) == Recipe(task="squad-qnli", levels=1)
    assert recipe_cell(names=["rate"]) == f"rate = 0.2  # {recipe_help('rate')}\n"
