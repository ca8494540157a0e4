"""Readers for the classic GLUE folder layout (`<glue_dir>/<Folder>/train.tsv`, `dev.tsv`, ...).

Each task keeps its own TSV format (see tasks.GlueFormat): CoLA has no header, MRPC starts
with a UTF-8 BOM, STS-B has ten columns with the score last, MNLI has dev_matched and
dev_mismatched files and text labels. Files are read as GLUE's own code reads them: tab
separated with quoting disabled (QUOTE_NONE), since sentences contain bare quote marks.
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

from ticketlib.tasks.data.errors import DataFormatError, DataUnavailableError
from ticketlib.tasks.registry import Task

csv.field_size_limit(sys.maxsize)  # MNLI parse-tree columns are long

HOW_TO_GET = (
    "get the GLUE data with the GLUE download script (folders CoLA/, SST-2/, ... in one directory) "
    "and pass glue_dir=, or use source='hub'"
)


def read_tsv(path: Path) -> list[list[str]]:
    """Rows of a TSV file, BOM stripped, quoting disabled, blank lines dropped."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [row for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def split_files(task: Task, glue_dir: str | Path | None) -> dict[str, Path]:
    """{"train": path, <eval split>: path, ...} for `task`, checked to exist."""
    if task.glue is None:
        raise DataUnavailableError(
            f"task {task.name!r} is not a GLUE task; source 'glue_dir' cannot provide it "
            f"(its sources: {', '.join(task.sources)})"
        )
    if glue_dir is None:
        raise DataUnavailableError(
            f"source 'glue_dir' needs glue_dir=<folder holding {task.glue.folder}/>; {HOW_TO_GET}"
        )
    folder = Path(glue_dir).expanduser() / task.glue.folder
    files = {"train": folder / task.glue.train_file, **{name: folder / f for name, f in task.glue.eval_files}}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise DataUnavailableError(f"source 'glue_dir' tried {folder}: missing {', '.join(missing)}; {HOW_TO_GET}")
    return files


def read_split(task: Task, path: Path) -> tuple[list[dict], int]:
    """Examples {"text_a", "text_b"?, "label"} of one GLUE file, and how many malformed rows were skipped."""
    spec = task.glue
    rows = read_tsv(path)
    if spec.header:
        if not rows:
            raise DataFormatError(f"{path}: empty file, expected a header line")
        header, rows, first_line = rows[0], rows[1:], 2
        text_idx = [_column(header, c, path) for c in spec.text_columns]
        label_idx = _column(header, spec.label_column, path)
        width = len(header)
    else:
        first_line = 1
        text_idx, label_idx = list(spec.text_columns), spec.label_column
        width = len(rows[0]) if rows else 0
    examples, skipped = [], 0
    for line, row in enumerate(rows, start=first_line):
        if len(row) != width:
            if spec.skip_malformed:
                skipped += 1
                continue
            raise DataFormatError(f"{path}:{line}: {len(row)} columns, expected {width}")
        example = {"text_a": row[text_idx[0]]}
        if len(text_idx) > 1:
            example["text_b"] = row[text_idx[1]]
        example["label"] = parse_label(task, row[label_idx], f"{path}:{line}")
        examples.append(example)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} malformed rows (wrong column count)", stacklevel=2)
    return examples, skipped


def _column(header: list[str], wanted: tuple[str, ...] | str | int, path: Path) -> int:
    if isinstance(wanted, int):
        return wanted
    names = (wanted,) if isinstance(wanted, str) else wanted
    for name in names:
        if name in header:
            return header.index(name)
    raise DataFormatError(f"{path}: no column {' or '.join(map(repr, names))} in header {header}")


def parse_label(task: Task, value: str, where: str) -> int | float:
    """A label id from a class name or an integer string; a float for regression."""
    value = value.strip()
    if task.head == "regression":
        try:
            return float(value)
        except ValueError:
            raise DataFormatError(f"{where}: score {value!r} is not a number") from None
    if value in task.labels:
        return task.labels.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(task.labels):
        return int(value)
    raise DataFormatError(f"{where}: label {value!r} is not one of {task.labels} or 0..{len(task.labels) - 1}")


def load_glue_dir(task: Task, glue_dir: str | Path | None) -> tuple[dict[str, list[dict]], dict]:
    """All splits of `task` from a GLUE folder, plus provenance for the run manifest."""
    files = split_files(task, glue_dir)
    splits, provenance = {}, {"glue_dir": str(Path(glue_dir).expanduser()), "files": {}, "skipped_rows": {}}
    for name, path in files.items():
        splits[name], skipped = read_split(task, path)
        provenance["files"][name] = str(path)
        if skipped:
            provenance["skipped_rows"][name] = skipped
    return splits, provenance
