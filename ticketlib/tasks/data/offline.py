"""The `offline` source: tasks built from pinned package-registry assets (ticketlib.tasks.assets).

- squad: the genuine SQuAD v1.1 JSON files.
- rt-sentiment / rt-sentiment-score: the Rotten Tomatoes sentences with mean human scores
  (the pool SST was built from). Score-0 sentences are dropped; the split is fixed by hashing
  sentence ids (872 dev, SST-2's dev size), so it is the same on every machine and version.
- squad-qnli: QNLI built the way GLUE built it, from SQuAD: question vs sentence of its
  paragraph, "entailment" if the sentence holds the answer span.
- squad-retrieval: question -> the sentence holding its answer (the same sentence rule), for
  the contrastive task; dev is a fixed pool of pairs with distinct sentences.
- wiki-mlm: the `extract` text of 10,033 Wikipedia lead paragraphs; 500 articles (hashed) for dev.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Callable, Iterator

from ticketlib.tasks import assets
from ticketlib.tasks.data.errors import DataUnavailableError
from ticketlib.tasks.registry import Task

RT_DEV_SIZE = 872
WIKI_DEV_ARTICLES = 500


def hashed_split(ids: list[str], dev_size: int, salt: str) -> tuple[set[str], set[str]]:
    """(train ids, dev ids): dev = the `dev_size` ids with the smallest salted sha256.
    Independent of any RNG implementation, so it never changes across Python versions."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())
    return set(ranked[dev_size:]), set(ranked[:dev_size])


def _asset(name: str, task: Task):
    try:
        return assets.fetch(name)
    except assets.AssetError as error:
        raise DataUnavailableError(
            f"source 'offline' for task {task.name!r} tried asset {name!r} "
            f"({assets.get_asset(name).requirement}): {error}"
        ) from error


# --- SQuAD ---


def read_squad_file(path) -> list[dict]:
    """QA examples {"id", "title", "context", "question", "answers": {"text", "answer_start"}}."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    return [
        {
            "id": qa["id"],
            "title": article["title"],
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def squad(task: Task) -> dict[str, list[dict]]:
    folder = _asset("squad-v1.1", task)
    return {"train": read_squad_file(folder / "train-v1.1.json"), "dev": read_squad_file(folder / "dev-v1.1.json")}


# --- Rotten Tomatoes sentences ---


def read_rt_sentences(path) -> list[tuple[str, float, str]]:
    """(id, mean score, sentence) rows of movieReviewSnippets_GroundTruth.txt (latin-1, tab separated)."""
    rows = []
    with open(path, encoding="latin-1", newline="") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if line:
                sentence_id, score, sentence = line.split("\t")
                rows.append((sentence_id, float(score), sentence))
    return rows


def _rt(task: Task, target: Callable[[float], int | float]) -> dict[str, list[dict]]:
    rows = [
        r
        for r in read_rt_sentences(_asset("rt-sentences", task) / "movieReviewSnippets_GroundTruth.txt")
        if r[1] != 0.0
    ]  # neither positive nor negative: no binary label (SST-2 drops neutral too)
    train_ids, _ = hashed_split([r[0] for r in rows], RT_DEV_SIZE, salt="rt-sentiment")
    splits = {"train": [], "dev": []}
    for sentence_id, score, sentence in rows:
        splits["train" if sentence_id in train_ids else "dev"].append({"text_a": sentence, "label": target(score)})
    return splits


def rt_sentiment(task: Task) -> dict[str, list[dict]]:
    return _rt(task, lambda score: int(score > 0))


def rt_sentiment_score(task: Task) -> dict[str, list[dict]]:
    return _rt(task, float)


# --- QNLI-style pairs from SQuAD ---

# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a capital,
# digit or opening quote. Simple, deterministic, and right for Wikipedia prose in the vast majority of cases.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences of `text`."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start() + len(match.group(0).rstrip())))
        start = match.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def answer_sentences(examples: list[dict]) -> Iterator[tuple[dict, list[tuple[int, int]], int]]:
    """(example, its paragraph's sentence spans, index of the sentence holding the first answer)
    for every example whose first answer lies within one sentence; the others are skipped.
    Spans are computed once per paragraph (about 5 questions share one)."""
    paragraphs: dict[str, list[tuple[int, int]]] = {}
    for example in examples:
        context = example["context"]
        if context not in paragraphs:
            paragraphs[context] = sentence_spans(context)
        spans = paragraphs[context]
        start = example["answers"]["answer_start"][0]
        end = start + len(example["answers"]["text"][0])
        holding = [i for i, (s, e) in enumerate(spans) if s <= start and end <= e]
        if holding:
            yield example, spans, holding[0]


def qnli_pairs(examples: list[dict]) -> list[dict]:
    """Per question: (question, answer sentence, entailment) and (question, the other sentence of
    its paragraph with the most word overlap, not_entailment) — balanced, with hard negatives.
    Questions whose answer crosses a sentence boundary, or whose paragraph has one sentence, are skipped."""
    pairs = []
    sentence_words: dict[str, list[set[str]]] = {}  # per paragraph, each sentence's words
    for example, spans, holding in answer_sentences(examples):
        if len(spans) < 2:
            continue
        context = example["context"]
        if context not in sentence_words:
            sentence_words[context] = [_words(context[s:e]) for s, e in spans]
        question_words = _words(example["question"])
        others = [i for i in range(len(spans)) if i != holding]
        negative = max(others, key=lambda i: (len(question_words & sentence_words[context][i]), -i))
        for index, label in ((holding, 0), (negative, 1)):
            s, e = spans[index]
            pairs.append({"text_a": example["question"], "text_b": context[s:e].strip(), "label": label})
    return pairs


def squad_qnli(task: Task) -> dict[str, list[dict]]:
    return {split: qnli_pairs(examples) for split, examples in squad(task).items()}


# --- question -> answer sentence retrieval from SQuAD ---


def retrieval_pairs(examples: list[dict]) -> list[dict]:
    """{"id", "text_a": question, "text_b": the sentence holding its first answer}, in input order;
    questions whose answer crosses a sentence boundary are skipped."""
    pairs = []
    for example, spans, holding in answer_sentences(examples):
        s, e = spans[holding]
        pairs.append({"id": example["id"], "text_a": example["question"], "text_b": example["context"][s:e].strip()})
    return pairs


def retrieval_pool(pairs: list[dict], size: int, salt: str) -> list[dict]:
    """A fixed pool of `size` pairs with distinct sentences (so each question has exactly one right
    candidate): per sentence the pair with the smallest salted sha256 of its id, then the `size`
    smallest of those; kept in input order."""
    rank = {p["id"]: hashlib.sha256(f"{salt}:{p['id']}".encode()).hexdigest() for p in pairs}
    best: dict[str, dict] = {}
    for pair in pairs:
        if pair["text_b"] not in best or rank[pair["id"]] < rank[best[pair["text_b"]]["id"]]:
            best[pair["text_b"]] = pair
    if len(best) < size:
        raise DataUnavailableError(f"a retrieval pool of {size} needs {size} distinct sentences; there are {len(best)}")
    _, chosen = hashed_split([p["id"] for p in best.values()], size, salt)
    return [p for p in pairs if p["id"] in chosen]


def squad_retrieval(task: Task) -> dict[str, list[dict]]:
    """Train: every SQuAD train question with its answer sentence; dev: the fixed pool of
    `task.retrieval.dev_pool` pairs from SQuAD dev (see retrieval_pool)."""
    examples = squad(task)
    return {
        "train": retrieval_pairs(examples["train"]),
        "dev": retrieval_pool(retrieval_pairs(examples["dev"]), task.retrieval.dev_pool, salt=task.name),
    }


# --- Wikipedia text for MLM ---


def wiki_mlm(task: Task) -> dict[str, list[dict]]:
    with open(_asset("wiki-summaries", task) / "summaries_en-us.json", encoding="utf-8") as handle:
        articles = json.load(handle)
    titles = sorted(articles)
    train_titles, _ = hashed_split(titles, WIKI_DEV_ARTICLES, salt="wiki-mlm")
    splits = {"train": [], "dev": []}
    for title in titles:
        text = articles[title]["extract"].strip()
        if text:
            splits["train" if title in train_titles else "dev"].append({"text": text})
    return splits


BUILDERS: dict[str, Callable[[Task], dict[str, list[dict]]]] = {
    "squad": squad,
    "rt-sentiment": rt_sentiment,
    "rt-sentiment-score": rt_sentiment_score,
    "squad-qnli": squad_qnli,
    "squad-retrieval": squad_retrieval,
    "wiki-mlm": wiki_mlm,
}

ASSETS_USED = {
    "squad": "squad-v1.1",
    "rt-sentiment": "rt-sentences",
    "rt-sentiment-score": "rt-sentences",
    "squad-qnli": "squad-v1.1",
    "squad-retrieval": "squad-v1.1",
    "wiki-mlm": "wiki-summaries",
}


def load_offline(task: Task) -> tuple[dict[str, list[dict]], dict]:
    """All splits of `task` from registry assets, plus provenance (package, version, sha256)."""
    if task.offline is None:
        hint = (
            f"; its offline stand-in is task {task.offline_alternative!r}"
            if task.offline_alternative
            else f"; its sources: {', '.join(task.sources)}"
        )
        raise DataUnavailableError(f"task {task.name!r} has no offline source (no registry ships it){hint}")
    splits = BUILDERS[task.offline](task)
    asset = assets.get_asset(ASSETS_USED[task.offline])
    return splits, {
        "asset": asset.name,
        "package": asset.requirement,
        "archive_sha256": asset.sha256,
        "builder": task.offline,
    }
