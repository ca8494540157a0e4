"""Tokenization, subsets, the feature cache, SQuAD windows and spans, MLM masking, evaluation:
all offline, on a tiny tokenizer and GLUE-format files written here."""

import numpy as np
import pytest
import torch
from conftest import tiny_model
from data_fixtures import tiny_tokenizer, write_small_glue
from torch import nn
from transformers.modeling_outputs import QuestionAnsweringModelOutput, SequenceClassifierOutput

from ticketlib.foundations.batching import Batches
from ticketlib.tasks.data import DataUnavailableError, encode, load_task_data, mask_tokens
from ticketlib.tasks.data.loading import TaskData
from ticketlib.tasks.data.squad_postprocess import best_spans
from ticketlib.tasks.data.subsets import take_subset
from ticketlib.tasks.registry import get_task


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETLIB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tokenizer(tmp_path):
    return tiny_tokenizer(tmp_path / "tok")


@pytest.fixture
def glue(tmp_path):
    return write_small_glue(tmp_path / "glue")


def test_pair_features_have_the_batching_shape(tokenizer, glue):
    data = load_task_data("rte", "glue_dir", tokenizer, glue_dir=glue, max_length=16)
    feature = data.train_features[0]
    assert set(feature) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert feature["input_ids"][0] == tokenizer.cls_token_id and feature["labels"] == 0
    assert 1 in feature["token_type_ids"]  # second segment marked
    _, batch = next(iter(Batches(data.train_features, 2, pad_token_id=data.pad_token_id)))
    assert batch["input_ids"].shape[0] == 2
    assert data.matching_metric == "accuracy" and data.info["splits"]["train"]["examples_used"] == 3


def test_regression_labels_are_floats(tokenizer, tmp_path):
    from data_fixtures import write_tsv

    header = [
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
        "score",
    ]
    rows = [header] + [[str(i), "g", "f", "y", "o", "s", "s", "the cat", "a cat", f"{i}.5"] for i in range(3)]
    write_tsv(tmp_path / "STS-B" / "train.tsv", rows)
    write_tsv(tmp_path / "STS-B" / "dev.tsv", rows)
    data = load_task_data("stsb", "glue_dir", tokenizer, glue_dir=tmp_path)
    assert [f["labels"] for f in data.train_features] == [0.5, 1.5, 2.5]


def test_mnli_keeps_both_dev_sets(tokenizer, glue):
    data = load_task_data("mnli", "glue_dir", tokenizer, glue_dir=glue)
    assert list(data.eval_sets) == ["matched", "mismatched"] and data.eval_features is data.eval_sets["matched"]


def test_truncation_to_max_length(tokenizer):
    long = {"text_a": " ".join(["cat"] * 50), "text_b": " ".join(["dog"] * 50), "label": 1}
    (feature,) = encode.encode_pairs(tokenizer, [long], max_length=12)
    assert len(feature["input_ids"]) == 12 and feature["input_ids"][-1] == tokenizer.sep_token_id


def test_subsets_are_seeded_ordered_and_recorded(tokenizer, glue):
    items = list(range(100))
    a, b, c = take_subset(items, 10, 0), take_subset(items, 10, 0), take_subset(items, 10, 1)
    assert a == b and a != c and a == sorted(a) and len(a) == 10
    assert take_subset(items, None, 0) == items
    data = load_task_data(
        "mnli", "glue_dir", tokenizer, glue_dir=glue, max_train_examples=2, max_eval_examples=1, subset_seed=3
    )
    assert len(data.train_features) == 2 and len(data.eval_sets["matched"]) == 1
    assert data.info["subset"] == {"max_train_examples": 2, "max_eval_examples": 1, "subset_seed": 3}


def test_empty_training_set_is_an_error(tokenizer, glue):
    with pytest.raises(DataUnavailableError, match="training set is empty"):
        load_task_data("rte", "glue_dir", tokenizer, glue_dir=glue, max_train_examples=0)


@pytest.mark.filterwarnings("ignore:.*malformed rows")
def test_second_load_hits_the_cache_and_gives_identical_features(tokenizer, glue, tmp_path):
    first = load_task_data("qqp", "glue_dir", tokenizer, glue_dir=glue)
    second = load_task_data("qqp", "glue_dir", tokenizer, glue_dir=glue)
    assert first.info["cache_hits"] == {"train": False, "dev": False}
    assert second.info["cache_hits"] == {"train": True, "dev": True}
    assert second.train_features == first.train_features
    files = list((tmp_path / "cache" / "features").iterdir())
    assert files and all(f.suffix == ".parquet" for f in files)  # no pickle, no temp leftovers
    changed = load_task_data("qqp", "glue_dir", tokenizer, glue_dir=glue, max_length=8)
    assert changed.info["cache_hits"]["train"] is False  # max_length is part of the key


QA_EXAMPLE = {
    "id": "q1",
    "title": "t",
    "question": "Where is the capital?",
    "context": "The cat sat on the mat. Paris is the capital of France. The dog ran home today.",
    "answers": {"text": ["Paris"], "answer_start": [24]},
}


def test_squad_windows_cover_the_answer_with_stride(tokenizer):
    features, meta = encode.encode_qa(tokenizer, [QA_EXAMPLE], max_length=16, doc_stride=4, train=True)
    assert len(features) > 1  # the context needs several windows
    context = QA_EXAMPLE["context"]
    hits = 0
    for feature, m in zip(features, meta):
        s, e = feature["start_positions"], feature["end_positions"]
        if (s, e) != (0, 0):
            hits += 1
            assert context[m["offsets"][s][0] : m["offsets"][e][1]] == "Paris"
        assert all(o is None for o in m["offsets"][:7])  # [CLS] + question tokens are not context
    assert hits >= 1


def test_squad_long_questions_are_cut_to_leave_room_for_context(tokenizer):
    example = {**QA_EXAMPLE, "question": " ".join(["what"] * 40)}
    features, _ = encode.encode_qa(tokenizer, [example], max_length=24, doc_stride=4, train=True)
    assert features and all(len(f["input_ids"]) <= 24 for f in features)


def test_best_spans_by_hand():
    examples = [{"id": "a", "context": "Paris is big"}, {"id": "b", "context": "no answer"}]
    offsets = [None, [0, 5], [6, 8], [9, 12], None]
    meta = [{"example_index": 0, "offsets": offsets}, {"example_index": 1, "offsets": [None, None]}]
    starts = [np.array([9.0, 1.0, 0.0, 3.0, 9.0]), np.array([5.0, 5.0])]
    ends = [np.array([9.0, 0.0, 0.5, 2.0, 9.0]), np.array([5.0, 5.0])]
    # [CLS]/padding positions are not context; best valid pair: start 3 + end 3 = 5 beats 1 + 2 = 3
    assert best_spans(examples, meta, starts, ends) == {"a": "big", "b": ""}
    # end before start is invalid: with start logits favouring token 3 and end favouring token 1
    starts2 = [np.array([0.0, 0.0, 0.0, 9.0, 0.0])]
    ends2 = [np.array([0.0, 9.0, 0.0, 0.0, 0.0])]
    assert best_spans(examples[:1], meta[:1], starts2, ends2) == {"a": "big"}
    assert best_spans(examples[:1], meta[:1], starts2, ends2, max_answer_tokens=1) == {"a": "big"}


def test_mlm_blocks_and_masking(tokenizer):
    texts = ["the cat sat on the mat . " * 5, "the dog ran home today . " * 5]
    blocks = encode.encode_blocks(tokenizer, texts, max_length=16)
    assert all(len(b["input_ids"]) == 16 for b in blocks)
    assert all(
        b["input_ids"][0] == tokenizer.cls_token_id and b["input_ids"][-1] == tokenizer.sep_token_id for b in blocks
    )
    many = blocks * 200
    first, again = mask_tokens(many, tokenizer, 0), mask_tokens(many, tokenizer, 0)
    other = mask_tokens(many, tokenizer, 1)
    assert first == again and first != other  # deterministic for a seed
    chosen = replaced = kept = total = 0
    for block, masked in zip(many, first):
        for original, new, label in zip(block["input_ids"], masked["input_ids"], masked["labels"]):
            if original in (tokenizer.cls_token_id, tokenizer.sep_token_id):
                assert label == -100 and new == original  # special tokens are never targets
                continue
            total += 1
            if label != -100:
                chosen += 1
                assert label == original
                replaced += new == tokenizer.mask_token_id
                kept += new == original
            else:
                assert new == original
    assert chosen / total == pytest.approx(0.15, abs=0.02)
    assert replaced / chosen == pytest.approx(0.8, abs=0.04)
    assert kept / chosen == pytest.approx(0.1 + 0.1 / len(tokenizer), abs=0.04)


class LengthParity(nn.Module):
    """Predicts class (number of real tokens) % 2: checks that evaluation restores example order."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        parity = attention_mask.sum(-1) % 2
        return SequenceClassifierOutput(logits=nn.functional.one_hot(parity, 2).float() + 0 * self.weight)


def _data(task, eval_features, **kwargs):
    return TaskData(
        task=get_task(task),
        source="test",
        train_features=eval_features,
        eval_sets={"dev": eval_features},
        pad_token_id=0,
        **kwargs,
    )


def test_evaluate_restores_order_and_scores_by_hand():
    lengths = [3, 8, 4, 5, 6, 7, 2, 9]
    labels = [1, 0, 0, 1, 0, 1, 0, 0]  # parity matches for all but the last (9 -> 1 vs 0)
    features = [{"input_ids": [5] * n, "attention_mask": [1] * n, "labels": y} for n, y in zip(lengths, labels)]
    scores = _data("rte", features).evaluate(LengthParity(), batch_size=3)
    assert scores == {"accuracy": pytest.approx(7 / 8)}


class Uniform(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.weight = vocab, nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        from transformers.modeling_outputs import MaskedLMOutput

        return MaskedLMOutput(logits=torch.zeros(*input_ids.shape, self.vocab) + 0 * self.weight)


def test_mlm_evaluation_uniform_model_has_perplexity_vocab_size():
    features = [
        {
            "input_ids": [2, 7, 4, 9, 3],
            "attention_mask": [1] * 5,
            "token_type_ids": [0] * 5,
            "labels": [-100, 7, 8, -100, -100],
        }
    ]
    scores = _data("wiki-mlm", features).evaluate(Uniform(50))
    assert scores["perplexity"] == pytest.approx(50.0) and scores["masked_accuracy"] == 0.0


class PointAt(nn.Module):
    """QA model whose logits peak at the token with id 8 (start) and id 9 (end)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return QuestionAnsweringModelOutput(
            start_logits=(input_ids == 8).float() * 10 + 0 * self.weight, end_logits=(input_ids == 9).float() * 10
        )


def test_qa_evaluation_end_to_end(tokenizer):
    # PointAt starts at "film" (id 8) and ends at "movie" (id 9): the predicted span is known
    context = "the film was good . the movie was bad ."
    film, movie = tokenizer.convert_tokens_to_ids(["film", "movie"])
    assert (film, movie) == (8, 9)
    examples = [
        {
            "id": "x",
            "title": "t",
            "question": "what is it ?",
            "context": context,
            "answers": {"text": ["film was good . the movie", "nothing"], "answer_start": [4, 0]},
        }
    ]
    features, meta = encode.encode_qa(tokenizer, examples, max_length=32, doc_stride=8, train=False)
    data = _data("squad", features, qa_eval={"dev": {"examples": examples, "meta": meta}})
    assert data.evaluate(PointAt()) == {"exact_match": 1.0, "f1": 1.0}


def test_evaluate_keeps_the_model_on_its_device_and_mode(tokenizer, glue):
    data = load_task_data("rte", "glue_dir", tokenizer, glue_dir=glue, max_length=16)
    model = tiny_model("cls").train()
    scores = data.evaluate(model)
    assert set(scores) == {"accuracy"} and model.training
    assert next(model.parameters()).device.type == "cpu"


def test_hub_source_fails_fast_offline(tokenizer, monkeypatch, network_attempts):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match=r"source 'hub' tried load_dataset\('nyu-mll/glue', 'rte'\)"):
        load_task_data("rte", "hub", tokenizer)
    with pytest.raises(DataUnavailableError, match="stand-in task 'wiki-mlm'"):
        load_task_data("mlm", "hub", tokenizer)
    # At once: the flag came after huggingface_hub's import, so one DNS lookup (ticketlib.foundations.hub)
    # decides; no connection, so no download and none of its retries.
    assert [kind for kind, _ in network_attempts] in ([], ["lookup"])


def test_sources_a_task_lacks_are_named(tokenizer):
    with pytest.raises(DataUnavailableError, match="offline stand-in is task 'rt-sentiment'"):
        load_task_data("sst2", "offline", tokenizer)
    with pytest.raises(DataUnavailableError, match="no hub source"):
        load_task_data("rt-sentiment", "hub", tokenizer)
    with pytest.raises(ValueError, match="unknown data source 'glue'"):
        load_task_data("rte", "glue", tokenizer)


def test_hub_source_converts_the_standard_datasets(tokenizer, monkeypatch):
    """The real load_dataset call path, with the hub replaced by in-memory datasets of the same schema."""
    import datasets

    from ticketlib.tasks.data import hub_source

    calls = []
    mnli_rows = {"premise": ["the cat sat ."], "hypothesis": ["a cat sat ."], "label": [0], "idx": [0]}
    squad_rows = {
        "id": ["q1"],
        "title": ["t"],
        "context": [QA_EXAMPLE["context"]],
        "question": [QA_EXAMPLE["question"]],
        "answers": [{"text": ["Paris"], "answer_start": [24]}],
    }

    def fake_load_dataset(path, config=None):
        calls.append((path, config))
        if path == "nyu-mll/glue":
            return datasets.DatasetDict(
                {
                    s: datasets.Dataset.from_dict(mnli_rows)
                    for s in ("train", "validation_matched", "validation_mismatched")
                }
            )
        return datasets.DatasetDict({s: datasets.Dataset.from_dict(squad_rows) for s in ("train", "validation")})

    monkeypatch.setattr(hub_source, "hub_unavailable_reason", lambda: None)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    mnli = load_task_data("mnli", "hub", tokenizer)
    assert list(mnli.eval_sets) == ["matched", "mismatched"] and mnli.train_features[0]["labels"] == 0
    squad = load_task_data("squad", "hub", tokenizer, max_length=32)
    assert squad.qa_eval["dev"]["examples"][0]["answers"]["text"] == ["Paris"]
    assert calls == [("nyu-mll/glue", "mnli"), ("rajpurkar/squad", None)]


def test_qnli_pairs_take_the_answer_sentence_and_the_most_overlapping_other():
    from ticketlib.tasks.data.offline import qnli_pairs

    context = "Paris is the capital of France. The Seine flows through Paris. Lyon is a city in France."

    def example(question, answer):
        return {
            "context": context,
            "question": question,
            "answers": {"text": [answer], "answer_start": [context.index(answer)]},
        }

    pairs = qnli_pairs(
        [
            example("Which river flows through Paris?", "The Seine"),
            example("What is the capital of France?", "Paris"),
            example("What spans two sentences?", "France. The Seine"),
        ]
    )  # skipped
    assert pairs == [
        {"text_a": "Which river flows through Paris?", "text_b": "The Seine flows through Paris.", "label": 0},
        {"text_a": "Which river flows through Paris?", "text_b": "Paris is the capital of France.", "label": 1},
        {"text_a": "What is the capital of France?", "text_b": "Paris is the capital of France.", "label": 0},
        # Lyon's sentence shares "is" and "france" with the question, the Seine's only "the".
        {"text_a": "What is the capital of France?", "text_b": "Lyon is a city in France.", "label": 1},
    ]
