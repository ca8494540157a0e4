"""A child process for kill-and-resume tests: one small IMP run, optionally SIGKILLed at the
n-th occurrence of a phase (train: optimizer step; prune: magnitude pruning; write: the rename
that publishes a finished file). Usage: imp_child.py RUN_DIR [PHASE N]; or `logged` as the
target of a process forked from a server that imported this module (and so torch) once."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402
from conftest import synthetic_features, tiny_model  # noqa: E402

import ticketlib.core.imp as imp  # noqa: E402
import ticketlib.core.train as train  # noqa: E402
import ticketlib.foundations.atomic as store  # noqa: E402
from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig  # noqa: E402
from ticketlib.foundations.batching import pad_collate  # noqa: E402


def kill_points(phase: str | None, n: int) -> None:
    """SIGKILL this process at the n-th `phase` event: patches train, imp and os (this process's
    own modules: call it only in the child)."""
    count = {"n": 0}

    def tick(target):
        if phase == target:
            count["n"] += 1
            if count["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)

    make_optimizer, prune, replace = train.make_optimizer, imp.prune, os.replace

    def make_optimizer_then_kill(model, config):
        optimizer = make_optimizer(model, config)
        optimizer.register_step_post_hook(lambda *_: tick("train"))
        return optimizer

    def prune_then_kill(*args, **kwargs):
        mask = prune(*args, **kwargs)
        tick("prune")
        return mask

    def replace_then_kill(src, dst):
        tick("write")  # the temporary file is complete, the final name not yet written
        replace(src, dst)

    train.make_optimizer = make_optimizer_then_kill
    imp.prune = prune_then_kill
    store.os.replace = replace_then_kill


def main(run_dir: str, phase: str | None = None, n: int = 0) -> None:
    kill_points(phase, n)
    torch.set_num_threads(1)
    config = IMPConfig(
        prune=PruneConfig(levels=3, rate=0.2),
        train=TrainConfig(learning_rate=1e-3, max_steps=6, batch_size=16, progress=False),
    )
    dev = synthetic_features(32, seed=1)

    def evaluate(model):
        with torch.no_grad():
            batch = pad_collate(dev)
            labels = batch.pop("labels")
            return {"accuracy": float((model(**batch).logits.argmax(-1) == labels).float().mean())}

    imp.run_imp(tiny_model(), synthetic_features(96), evaluate, config, run_dir, metadata={"task": "synthetic"})


def logged(log: str, run_dir: str, phase: str | None = None, n: int = 0) -> None:
    """main(), its output (a traceback, if it fails) in the file `log`: a forked child's stdout and
    stderr are the fork server's, not the test's."""
    with open(log, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    main(run_dir, phase, n)


if __name__ == "__main__":
    main(sys.argv[1], *((sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else ()))
