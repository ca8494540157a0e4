"""Offline helpers for the data tests: a tiny WordPiece tokenizer and GLUE-format files."""

from __future__ import annotations

from pathlib import Path

from transformers import BertTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the",
    "a",
    "an",
    "film",
    "movie",
    "is",
    "was",
    "good",
    "bad",
    "great",
    "awful",
    "plot",
    "actor",
    "fun",
    "dull",
    "what",
    "who",
    "where",
    "when",
    "did",
    "in",
    "of",
    "and",
    "paris",
    "france",
    "capital",
    "city",
    "river",
    "born",
    "year",
    "1990",
    "he",
    "she",
    "it",
    "not",
    "very",
    ".",
    ",",
    "?",
    "!",
    "'",
    "s",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "ran",
    "home",
    "today",
    "big",
    "small",
    "red",
    "blue",
    "house",
]


def tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    """A lower-casing WordPiece tokenizer over 60 tokens: ids fit the conftest tiny BERT (vocab 64)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    assert len(SPECIALS + WORDS) <= 64
    return BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True)


def write_tsv(path: Path, rows: list[list[str]], bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join("\t".join(row) for row in rows) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


MNLI_TRAIN_HEADER = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
]
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:11] + ["label2", "label3", "label4", "label5", "gold_label"]


def mnli_row(i: int, premise: str, hypothesis: str, label: str, dev: bool) -> list[str]:
    parses = ["( x )", "( y )", "(ROOT x)", "(ROOT y)"]
    labels = [label] * (5 if dev else 1)
    return [str(i), "1", f"{i}e", "fiction", *parses, premise, hypothesis, *labels, label]


def write_small_glue(root: Path) -> Path:
    """A GLUE folder with RTE, WNLI, QNLI, QQP and MNLI in their documented formats (tiny)."""
    nli = ["index", "sentence1", "sentence2", "label"]
    write_tsv(
        root / "RTE" / "train.tsv",
        [
            nli,
            ["0", "The cat sat.", "A cat sat.", "entailment"],
            ["1", "He ran home.", "She ran.", "not_entailment"],
            ["2", 'He said "hi.', "Quote stays.", "entailment"],
        ],
    )
    write_tsv(root / "RTE" / "dev.tsv", [nli, ["0", "The dog ran.", "A dog ran.", "entailment"]])
    write_tsv(
        root / "WNLI" / "train.tsv",
        [nli, ["0", "The cat sat on the mat.", "It sat.", "1"], ["1", "The dog ran home.", "It sat.", "0"]],
    )
    write_tsv(root / "WNLI" / "dev.tsv", [nli, ["0", "The red house.", "It is red.", "1"]])
    qnli = ["index", "question", "sentence", "label"]
    write_tsv(
        root / "QNLI" / "train.tsv",
        [
            qnli,
            ["0", "Where is Paris?", "Paris is in France.", "entailment"],
            ["1", "Who was born?", "The river.", "not_entailment"],
        ],
    )
    write_tsv(root / "QNLI" / "dev.tsv", [qnli, ["0", "What city?", "Paris.", "entailment"]])
    qqp = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    write_tsv(
        root / "QQP" / "train.tsv",
        [
            qqp,
            ["0", "1", "2", "What is a cat?", "What's a cat?", "1"],
            ["1", "3", "4", "Who ran?", "Where is home?", "0"],
            ["2", "5", "6", "A broken row without its other columns"],
            ["3", "7", "8", "Big dog?", "Small dog?", "0"],
        ],
    )
    write_tsv(root / "QQP" / "dev.tsv", [qqp, ["0", "1", "2", "Red cat?", "Blue cat?", "0"]])
    write_tsv(
        root / "MNLI" / "train.tsv",
        [
            MNLI_TRAIN_HEADER,
            mnli_row(0, "The cat sat.", "A cat sat.", "entailment", False),
            mnli_row(1, "The cat sat.", "No cat sat.", "contradiction", False),
            mnli_row(2, "The cat sat.", "It was big.", "neutral", False),
        ],
    )
    write_tsv(
        root / "MNLI" / "dev_matched.tsv",
        [
            MNLI_DEV_HEADER,
            mnli_row(0, "The dog ran.", "A dog ran.", "entailment", True),
            mnli_row(1, "The dog ran.", "It sat.", "contradiction", True),
        ],
    )
    write_tsv(
        root / "MNLI" / "dev_mismatched.tsv",
        [MNLI_DEV_HEADER, mnli_row(0, "Paris is big.", "It is a city.", "neutral", True)],
    )
    return root


def tiny_checkpoint(folder: Path, seed: int) -> Path:
    """A local BertModel checkpoint with a pooler and no head (like the offline MiniLM), and a tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tiny_tokenizer(folder.parent / "tok").save_pretrained(folder)
    return folder
