"""cl.py --lethe-draws: a diagnostic, not the twin's protocol. The tasks (permutations,
max_train/max_test subsets) already follow lethe's rule (tasks.py); this also takes the
training's random draws from lethe's generator instead of the twin's, so that the twin follows
lethe's trajectory and what is left of a difference is the implementations', not the seeds':

- the initial weights: He normal per dense layer in order, W row by row (out x in), zero
  biases (MLP and init = he only);
- the batch order (each step's samples in data set order, shuffled again every epoch).

This mirrors the engine's stream numbers (0 initial weights, 1 batch order) and its order of
draws. It is tied to lethe's C in a way the twin itself is not: when those change, this follows
or goes. Strategies keep their own draws (a reservoir's, a sampled Fisher's), so those still
differ."""
import math

import torch

from . import TwinError
from .rng import Rng

STREAM_INIT, STREAM_ORDER = 0, 1


class Order:
    """The batch order: each step's list from data set order, shuffled in place every epoch."""

    def __init__(self, seed):
        self.rng, self.idx = Rng(seed, STREAM_ORDER), None

    def start(self, step):
        self.idx = None

    def permutation(self, n):
        if self.idx is None:
            self.idx = list(range(n))
        self.rng.shuffle(self.idx)
        return torch.tensor(self.idx)


def apply(run):
    """Replaces the prepared run's initial weights with lethe's; returns lethe's batch order."""
    scn = run.scn
    if scn.layers or scn.architecture != "mlp" or scn.init != "he" and not scn.init_file:
        raise TwinError("--lethe-draws: lethe's draws are known for architecture = mlp, "
                        "init = he or FILE.safetensors only")
    if scn.init_file:  # the file's weights, loaded by prepare
        return Order(scn.seed)
    r = Rng(scn.seed, STREAM_INIT)
    with torch.no_grad():
        for m in run.model:
            if isinstance(m, torch.nn.Linear):
                sd = math.sqrt(2.0 / m.in_features)
                w = [sd * r.normal() for _ in range(m.weight.numel())]
                m.weight.copy_(torch.tensor(w, dtype=torch.float64).view_as(m.weight))
                m.bias.zero_()
    run.initial_state = {k: v.clone() for k, v in run.model.state_dict().items()}
    return Order(scn.seed)
