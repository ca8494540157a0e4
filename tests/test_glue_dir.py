"""The `glue_dir` source: genuine GLUE files where present, each other format on small files."""

import os
from pathlib import Path

import pytest
from data_fixtures import write_small_glue, write_tsv

from ticketlib.tasks.data import DataFormatError, DataUnavailableError, load_raw
from ticketlib.tasks.registry import get_task

GLUE_DIR = Path(os.environ.get("TICKETLIB_GLUE_DIR", Path(__file__).resolve().parents[1].parent / "shared/data/glue"))
GENUINE = {"cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500)}


@pytest.mark.parametrize("name", list(GENUINE))
def test_genuine_glue_folders_load_with_their_row_counts(name):
    if not (GLUE_DIR / get_task(name).glue.folder / "train.tsv").is_file():
        pytest.skip(f"no genuine GLUE files at {GLUE_DIR} (set TICKETLIB_GLUE_DIR to a classic glue_data folder)")
    splits, provenance = load_raw(get_task(name), "glue_dir", GLUE_DIR)
    assert (len(splits["train"]), len(splits["dev"])) == GENUINE[name]
    assert provenance["files"]["train"].endswith("train.tsv")


def test_genuine_glue_contents():
    if not (GLUE_DIR / "MRPC" / "dev.tsv").is_file():
        pytest.skip(f"no genuine GLUE files at {GLUE_DIR}")
    mrpc, _ = load_raw(get_task("mrpc"), "glue_dir", GLUE_DIR)
    assert sum(e["label"] for e in mrpc["dev"]) == 279  # SOURCES.md: dev 1:279 0:129
    assert mrpc["train"][0]["text_a"].startswith("Amrozi accused his brother")  # BOM stripped, column found
    stsb, _ = load_raw(get_task("stsb"), "glue_dir", GLUE_DIR)
    scores = [e["label"] for e in stsb["train"]]
    assert min(scores) == 0.0 and max(scores) == 5.0 and isinstance(scores[0], float)
    cola, _ = load_raw(get_task("cola"), "glue_dir", GLUE_DIR)
    assert sum(e["label"] for e in cola["dev"]) == 721 and "text_b" not in cola["dev"][0]


def test_rte_wnli_qnli_formats(tmp_path):
    root = write_small_glue(tmp_path)
    rte, _ = load_raw(get_task("rte"), "glue_dir", root)
    assert [e["label"] for e in rte["train"]] == [0, 1, 0]  # entailment, not_entailment
    assert rte["train"][2]["text_a"] == 'He said "hi.'  # quoting disabled: a bare quote is text
    wnli, _ = load_raw(get_task("wnli"), "glue_dir", root)
    assert [e["label"] for e in wnli["train"]] == [1, 0]
    qnli, _ = load_raw(get_task("qnli"), "glue_dir", root)
    assert qnli["train"][0] == {"text_a": "Where is Paris?", "text_b": "Paris is in France.", "label": 0}


def test_qnli_also_reads_the_sentence1_sentence2_header(tmp_path):
    nli = ["index", "sentence1", "sentence2", "label"]
    write_tsv(tmp_path / "QNLI" / "train.tsv", [nli, ["0", "Who?", "He.", "not_entailment"]])
    write_tsv(tmp_path / "QNLI" / "dev.tsv", [nli, ["0", "Who?", "He.", "entailment"]])
    qnli, _ = load_raw(get_task("qnli"), "glue_dir", tmp_path)
    assert qnli["train"][0]["label"] == 1 and qnli["dev"][0]["text_b"] == "He."


def test_qqp_skips_malformed_rows_and_records_them(tmp_path):
    root = write_small_glue(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 malformed"):
        qqp, provenance = load_raw(get_task("qqp"), "glue_dir", root)
    assert [e["label"] for e in qqp["train"]] == [1, 0, 0]
    assert provenance["skipped_rows"] == {"train": 1}


def test_mnli_matched_and_mismatched(tmp_path):
    mnli, _ = load_raw(get_task("mnli"), "glue_dir", write_small_glue(tmp_path))
    assert set(mnli) == {"train", "matched", "mismatched"}
    assert [e["label"] for e in mnli["train"]] == [0, 2, 1]  # entailment, contradiction, neutral
    assert mnli["matched"][0] == {"text_a": "The dog ran.", "text_b": "A dog ran.", "label": 0}
    assert mnli["mismatched"][0]["label"] == 1


def test_cola_headerless_and_sst2_formats(tmp_path):
    write_tsv(tmp_path / "CoLA" / "train.tsv", [["gj04", "1", "", "The cat sat."], ["gj04", "0", "*", "Cat the."]])
    write_tsv(tmp_path / "CoLA" / "dev.tsv", [["gj04", "1", "", "A dog ran."]])
    cola, _ = load_raw(get_task("cola"), "glue_dir", tmp_path)
    assert cola["train"] == [{"text_a": "The cat sat.", "label": 1}, {"text_a": "Cat the.", "label": 0}]


def test_missing_folder_says_what_was_tried_and_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(DataUnavailableError, match=r"source 'glue_dir' tried .*RTE.*GLUE download script"):
        load_raw(get_task("rte"), "glue_dir", tmp_path)
    with pytest.raises(DataUnavailableError, match="needs glue_dir="):
        monkeypatch.delenv("TICKETLIB_GLUE_DIR", raising=False)
        load_raw(get_task("rte"), "glue_dir", None)
    with pytest.raises(DataUnavailableError, match="not a GLUE task"):
        load_raw(get_task("squad"), "glue_dir", tmp_path)


def test_bad_rows_fail_with_file_and_line(tmp_path):
    nli = ["index", "sentence1", "sentence2", "label"]
    write_tsv(tmp_path / "RTE" / "train.tsv", [nli, ["0", "a", "b", "entailment"], ["1", "a", "b", "maybe"]])
    write_tsv(tmp_path / "RTE" / "dev.tsv", [nli, ["0", "a", "b", "entailment"]])
    with pytest.raises(DataFormatError, match=r"train.tsv:3: label 'maybe'"):
        load_raw(get_task("rte"), "glue_dir", tmp_path)
    write_tsv(tmp_path / "RTE" / "train.tsv", [nli, ["0", "a", "b"]])
    with pytest.raises(DataFormatError, match=r"train.tsv:2: 3 columns, expected 4"):
        load_raw(get_task("rte"), "glue_dir", tmp_path)
