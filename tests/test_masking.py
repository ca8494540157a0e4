import pytest
import torch
from conftest import synthetic_features, tiny_model
from torch.nn.utils import prune

from ticketlib.core.masker import Masker
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import prunable_parameters, prunable_state
from ticketlib.foundations.batching import pad_collate


def _batch(features):
    return pad_collate(features)


class Reviving(torch.optim.SGD):
    """An optimizer that moves every weight, gradient or not (like noise injection)."""

    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(1e-3)


OPTIMIZERS = {
    "adamw_wd": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "adamw_fused_wd": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1, fused=True),  # fine_tune's default
    "adam_amsgrad_l2": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "sgd_momentum_wd": lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9, weight_decay=0.1),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9, nesterov=True),
    "reviving": lambda p: Reviving(p, lr=0.5),
}


def _train(model, opt, features, steps, on_step=None):
    for step in range(steps):
        model(**_batch(features[step % 4 * 8 : (step % 4 + 1) * 8])).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        if on_step:
            on_step(step)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_pruned_weights_stay_exactly_zero_through_the_optimizer(name):
    """attach() alone (no explicit mask_grads) keeps pruned weights at 0 through every step."""
    features = synthetic_features(32)
    model = tiny_model().train()
    mask = magnitude_prune(prunable_state(model), 0.7)
    masker = Masker(model, mask)
    masker.apply()
    opt = OPTIMIZERS[name](model.parameters())
    masker.attach(opt)
    _train(model, opt, features, 50, on_step=lambda _: assert_pruned_zero(masker))
    params = prunable_parameters(model)
    for key, m in mask.items():
        assert int((params[key][~m] != 0).sum()) == 0
        if name != "reviving":
            assert int((params[key][m] == 0).sum()) == 0  # kept weights did move and are non-zero


def assert_pruned_zero(masker):
    assert masker.pruned_are_zero()


def test_rezero_after_step_is_skipped_only_for_trusted_optimizers_and_changes_nothing():
    features = synthetic_features(32)
    trained = {}
    for rezero in ("auto", "always"):
        model = tiny_model(seed=3).train()
        masker = Masker(model, magnitude_prune(prunable_state(model), 0.6), rezero_after_step=rezero)
        masker.apply()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        attachment = masker.attach(opt)
        assert len(opt._optimizer_step_post_hooks) == (rezero == "always")
        _train(model, opt, features, 20)
        trained[rezero] = prunable_state(model)
        attachment.remove()
        assert not opt._optimizer_step_post_hooks and not masker._optimizers
    for key in trained["auto"]:
        assert torch.equal(trained["auto"][key], trained["always"][key])  # bit for bit
    reviving = Reviving(tiny_model().parameters(), lr=0.1)
    masker = Masker(tiny_model(), magnitude_prune(prunable_state(tiny_model()), 0.5))
    masker.attach(reviving)
    assert len(reviving._optimizer_step_post_hooks) == 1  # a subclass is not trusted
    with pytest.raises(ValueError, match="rezero_after_step"):
        Masker(tiny_model(), magnitude_prune(prunable_state(tiny_model()), 0.5), rezero_after_step="never")


def test_a_new_mask_or_a_used_optimizer_has_its_state_zeroed_at_pruned_positions():
    """Adam moments left from dense steps (or from before set_mask) would revive a pruned
    weight on the next step; attach and set_mask zero them."""
    features = synthetic_features(32)
    model = tiny_model(seed=4).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    _train(model, opt, features, 5)  # dense steps: non-zero moments everywhere
    masker = Masker(model, magnitude_prune(prunable_state(model), 0.3))
    masker.apply()
    masker.attach(opt)
    _train(model, opt, features, 5, on_step=lambda _: assert_pruned_zero(masker))
    masker.set_mask(magnitude_prune(prunable_state(model), 0.6, current=masker.mask))
    _train(model, opt, features, 5, on_step=lambda _: assert_pruned_zero(masker))


def test_masked_training_equals_torch_prune_reparametrisation():
    """Zeroing weights in place trains exactly like weight_orig * mask (the reference's method)."""
    features = synthetic_features(16)
    batch = _batch(features)
    ours, theirs = tiny_model(seed=1).train(), tiny_model(seed=1).train()
    mask = magnitude_prune(prunable_state(ours), 0.5)
    masker = Masker(ours, mask)
    masker.apply()
    opt_a = torch.optim.AdamW(ours.parameters(), lr=1e-3)
    masker.attach(opt_a)
    modules = dict(theirs.bert.named_modules())
    for key, m in mask.items():
        prune.custom_from_mask(modules[key.rpartition(".")[0]], "weight", m)
    opt_b = torch.optim.AdamW(theirs.parameters(), lr=1e-3)
    torch.manual_seed(0)
    for _ in range(5):
        for model, opt in ((ours, opt_a), (theirs, opt_b)):
            torch.manual_seed(0)
            model(**batch).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
    ours_w = prunable_parameters(ours)
    for key in mask:
        module = modules[key.rpartition(".")[0]]
        theirs_w = module.weight_orig * module.weight_mask  # `.weight` is only refreshed by a forward
        torch.testing.assert_close(ours_w[key], theirs_w, rtol=1e-5, atol=1e-6)
