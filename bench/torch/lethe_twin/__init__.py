"""lethe's PyTorch fidelity twin: the protocol of a lethe scenario, run in plain PyTorch.

Modules, one concern each: scenario (the INI file and its keys), data (idx and CIFAR files, the
input transforms), tasks (which samples each task holds), rng (lethe's documented generator,
which draws the tasks), models (the layer grammar, presets and initialisations), persample
(per-sample squared gradients for Fisher estimates), protocol (the training and evaluation
loop), metrics (ACC, BWT, FWT, forgetting), strategies/ (one file per method, behind the hooks
of strategies/base.py).
"""


class TwinError(Exception):
    """A failure the twin reports on one line; status 2 for bad input, 1 for a failed run."""

    def __init__(self, msg, status=2):
        super().__init__(msg)
        self.status = status


def fail(msg):
    """A failed run (exit 1): the input was fine, the run was not."""
    return TwinError(msg, status=1)
