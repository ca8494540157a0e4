import torch
from torch.nn.utils import prune

from conftest import synthetic_features, tiny_model
from ticketlib.batching import pad_collate
from ticketlib.masking import Masker
from ticketlib.masks import magnitude_prune
from ticketlib.prunable import prunable_parameters, prunable_state


def _batch(features):
    return pad_collate(features)


def test_pruned_weights_stay_exactly_zero_through_adamw_with_weight_decay_and_sgd_momentum():
    features = synthetic_features(32)
    for make_opt in (lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
                     lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9, weight_decay=0.1)):
        model = tiny_model().train()
        mask = magnitude_prune(prunable_state(model), 0.7)
        masker = Masker(model, mask)
        masker.apply()
        opt = make_opt(model.parameters())
        masker.attach(opt)
        for step in range(50):
            loss = model(**_batch(features[step % 4 * 8:(step % 4 + 1) * 8])).loss
            loss.backward()
            masker.mask_grads()
            opt.step()
            opt.zero_grad()
            assert masker.pruned_are_zero()
        params = prunable_parameters(model)
        for key, m in mask.items():
            assert int((params[key][~m] != 0).sum()) == 0
            assert int((params[key][m] == 0).sum()) == 0  # kept weights did move and are non-zero


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
        for model, opt, grads in ((ours, opt_a, masker.mask_grads), (theirs, opt_b, lambda: None)):
            torch.manual_seed(0)
            model(**batch).loss.backward()
            grads()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
    ours_w = prunable_parameters(ours)
    for key in mask:
        module = modules[key.rpartition(".")[0]]
        theirs_w = module.weight_orig * module.weight_mask  # `.weight` is only refreshed by a forward
        torch.testing.assert_close(ours_w[key], theirs_w, rtol=1e-5, atol=1e-6)
