"""Writing artifacts safely: temp file + rename, JSON, run hashes.

Every artifact is written to a temporary name in the same folder and renamed into place,
so a killed process leaves either the old file or the new one, never half of one. A run
folder is complete when its manifest exists: the manifest is always written last. The temporary
file is created with mode 0666 less the umask, like any file a program writes (0644 under umask
022), so colleagues on a shared run store can read the artifacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path)
    mode = stat.S_IMODE(tmp.stat().st_mode)  # 0666 less the umask
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the writer may have replaced the file: safetensors' are owner-only
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _new_file(path: Path) -> Path:
    """A new empty hidden file beside `path`. Not tempfile.mkstemp: its files are owner-only
    (0600) whatever the umask; os.open's 0o666 lets the umask decide, as for any other file."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def follow_umask(*paths: str | os.PathLike) -> None:
    """Give files another library wrote (transformers' save_pretrained: safetensors writes
    owner-only files) the mode of any new file, 0666 less the umask; folders: every file below."""
    mode = 0o666 & ~_umask()
    for path in map(Path, paths):
        for file in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
            os.chmod(file, mode)


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting it back at once."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def recorded(obj: Any, field: dataclasses.Field) -> bool:
    """Whether a dataclass field is part of `obj`'s record (JSON, manifests, run identities). A field
    whose metadata names `record_if` (another field, or a property) is recorded only while that is true: an
    option added later and left off keeps the record, so old runs' manifests and ids, as they were."""
    flag = field.metadata.get("record_if")
    return flag is None or bool(getattr(obj, flag))


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if recorded(value, f)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def canonical(data: Any) -> Any:
    """`data` as it reads back from JSON (tuples become lists, keys strings), for comparisons."""
    return json.loads(json.dumps(to_jsonable(data)))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: corrupt JSON ({error})") from None


def params_hash(data: Any, length: int = 12) -> str:
    """Stable short hash of JSON-able parameters (key order does not matter)."""
    text = json.dumps(to_jsonable(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
