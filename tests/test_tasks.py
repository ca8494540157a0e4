"""The task registry: every task complete, names forgiving, unknown names explained."""

import pytest

from ticketlib.foundations import metrics as M
from ticketlib.tasks.registry import TASKS, get_task

PAPER_TASKS = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "squad", "mlm"]


def test_registry_has_every_paper_task_and_the_offline_stand_ins():
    assert set(PAPER_TASKS) <= set(TASKS)
    assert {"rt-sentiment", "squad-qnli", "wiki-mlm"} <= set(TASKS)


@pytest.mark.parametrize("name", list(TASKS))
def test_each_task_is_complete(name):
    task = TASKS[name]
    assert task.matching_metric in task.metrics
    assert task.sources, "a task needs at least one source"
    assert task.hparams.learning_rate > 0 and task.hparams.batch_size > 0 and task.hparams.max_length > 0
    if task.head == "classification":
        assert len(task.labels) >= 2 and task.num_labels == len(task.labels)
        assert set(task.metrics) <= set(M.CLASSIFICATION_METRICS)
    if task.head == "regression":
        assert task.num_labels == 1


def test_paper_hyperparameters_where_the_study_has_them():
    squad, mlm, mnli = get_task("squad").hparams, get_task("mlm").hparams, get_task("mnli").hparams
    assert (squad.learning_rate, squad.batch_size, squad.epochs, squad.max_length, squad.doc_stride) == (
        3e-5,
        16,
        4.0,
        384,
        128,
    )
    assert (mlm.learning_rate, mlm.batch_size, mlm.max_steps, mlm.max_length) == (5e-5, 16, 10_000, 512)
    assert (mnli.learning_rate, mnli.batch_size, mnli.epochs, mnli.max_length) == (2e-5, 32, 3.0, 128)
    assert get_task("rte").hparams.origin == "standard BERT recipe"


def test_matching_metrics_follow_the_paper():
    expected = {"cola": "matthews", "stsb": "pearson", "mrpc": "accuracy", "squad": "f1", "mlm": "masked_accuracy"}
    assert {n: get_task(n).matching_metric for n in expected} == expected


def test_names_ignore_case_and_dashes():
    assert get_task("SST-2").name == "sst2"
    assert get_task("STS_B").name == "stsb"
    assert get_task(get_task("rte")) is get_task("rte")


def test_unknown_task_lists_known_ones_and_suggests():
    with pytest.raises(KeyError) as error:
        get_task("sst3")
    message = str(error.value)
    assert "did you mean 'sst2'" in message.lower() and "cola" in message and "wiki-mlm" in message


def test_mnli_has_matched_and_mismatched_dev_sets():
    assert get_task("mnli").eval_split_names == ("matched", "mismatched")
