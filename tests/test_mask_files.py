import pytest
import torch
from conftest import tiny_model
from safetensors.torch import save_file

from ticketlib.core.mask_io import check_fits, load_mask, save_mask
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import architecture_fingerprint, prunable_state


@pytest.fixture
def mask():
    return magnitude_prune(prunable_state(tiny_model()), 0.4)


def test_roundtrip_is_identical_with_metadata(tmp_path, mask):
    path = tmp_path / "m.safetensors"
    save_mask(path, mask, task="sst2", model="tiny", seed=3, level=4)
    loaded, meta = load_mask(path)
    assert list(loaded) == list(mask) or set(loaded) == set(mask)
    assert all(torch.equal(loaded[k], mask[k]) and loaded[k].dtype == torch.bool for k in mask)
    assert meta["task"] == "sst2" and meta["seed"] == "3" and meta["level"] == "4"
    assert float(meta["sparsity"]) == pytest.approx(0.4, abs=1e-4)
    assert len(meta["mask_sha256"]) == 64 and meta["ticketlib_version"]
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_a_mask_fits_a_model_with_another_head(mask):
    for head in ("cls", "qa", "mlm"):
        check_fits(mask, tiny_model(head, seed=5))


def test_mask_for_another_shape_is_refused_naming_the_first_mismatch(mask):
    expected = r"encoder\.layer\.0\.attention\.self\.query\.weight' has shape \(32, 32\).*\(48, 48\)"
    with pytest.raises(ValueError, match=expected):
        check_fits(mask, tiny_model(hidden=48))
    with pytest.raises(ValueError, match="lacks"):
        check_fits(mask, tiny_model(layers=1))
    with pytest.raises(ValueError, match=r"no entry for 'encoder\.layer\.2"):
        check_fits(mask, tiny_model(layers=3))


def test_fingerprint_mismatch_is_refused(mask):
    with pytest.raises(ValueError, match="fingerprint"):
        check_fits(mask, tiny_model(), meta={"architecture": "0000"})
    check_fits(mask, tiny_model(), meta={"architecture": architecture_fingerprint(tiny_model())})


def test_truncated_or_foreign_files_are_refused(tmp_path, mask):
    path = tmp_path / "m.safetensors"
    save_mask(path, mask)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_mask(truncated)
    text = tmp_path / "x.safetensors"
    text.write_text("not a mask")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_mask(text)
    with pytest.raises(FileNotFoundError):
        load_mask(tmp_path / "missing.safetensors")


def test_values_other_than_0_1_and_edited_content_are_refused(tmp_path, mask):
    bad = {k: m.to(torch.uint8) * 2 for k, m in mask.items()}
    save_file(bad, str(tmp_path / "twos.safetensors"))
    with pytest.raises(ValueError, match="only 0/1"):
        load_mask(tmp_path / "twos.safetensors")
    save_file({k: m.float() for k, m in mask.items()}, str(tmp_path / "float.safetensors"))
    with pytest.raises(ValueError, match="only 0/1"):
        load_mask(tmp_path / "float.safetensors")
    path = tmp_path / "m.safetensors"
    save_mask(path, mask)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    first = next(iter(tensors))
    tensors[first] = 1 - tensors[first]
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match="checksum"):
        load_mask(path)
