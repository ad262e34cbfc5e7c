"""cl.py --lethe-draws: a diagnostic, not the twin's protocol. The tasks (permutations,
max_train/max_test subsets) already follow lethe's rule (tasks.py); this also takes the
training's random draws from lethe's generator instead of the twin's, so that the twin follows
lethe's trajectory and what is left of a difference is the implementations', not the seeds':

- the initial weights: He normal per dense layer in order, W row by row (out x in), zero
  biases (MLP and init = he only);
- the batch order (each step's samples in data set order, shuffled again every epoch);
- a `what = samples` request's D_f (stream 300 + the request's index: a shuffle of the task's
  sample numbers, the first round(fraction x n) forgotten);
- the reservoir of A-GEM, ER-ACE, DER and DER++ (plugin_stream: the plugin's stream, drawn
  from by strategies/memory.py's Reservoir as plugins/common/reservoir.c does);
- the draws of the methods that take them (`LETHE_DRAWS = True`: SCRUB): the plugin's stream
  (100 + its place in [scenario] plugins), D_f's order shuffled in place at each pass, D_r's
  rows drawn over the learned tasks' numbering with D_f's rejected, both by
  plugins/common/forget_set.c's rule (floor(u x n) of a uniform double u).

This mirrors the engine's stream numbers (0 initial weights, 1 batch order, 100 + i plugin i,
300 + k forget request k) and its order of draws. It is tied to lethe's C in a way the twin
itself is not: when those change, this follows or goes. Other strategies keep their own draws
(rehearsal's, GDumb's and BiC's memories, a sampled Fisher's), so those still differ, as do the
other methods' (SalUn's), the references' and the attacks'."""
import math

import torch

from . import TwinError
from .rng import Rng

STREAM_INIT, STREAM_ORDER, STREAM_PLUGIN, STREAM_FORGET = 0, 1, 100, 300


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


def plugin_stream(run, name):
    """Under --lethe-draws, the plugin name's stream as lethe seeds it (an Rng), else None."""
    return Rng(run.seed, STREAM_PLUGIN + run.scn.plugin_index[name]) if run.lethe_draws \
        else None


def forget_samples(seed, index, n, fraction):
    """A samples request's choice over the task's n samples (bool), as the engine draws it."""
    order = list(range(n))
    Rng(seed, STREAM_FORGET + index).shuffle(order)
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[order[:int(fraction * n + 0.5)]] = True
    return chosen


class MethodDraws:
    """A forget method's draws as the lethe plugin makes them from its stream."""

    def __init__(self, seed, plugin_index, num_forget, numbering):
        """numbering: for each sample of the learned tasks in lethe's numbering (task by
        task, D_f's included), its row in D_r, or -1 for D_f's."""
        self.rng = Rng(seed, STREAM_PLUGIN + plugin_index)
        self.order = list(range(num_forget))
        self.numbering = numbering.tolist()

    def _draw(self, n):
        return min(int(self.rng.uniform() * n), n - 1)

    def forget_order(self):
        """D_f's order for a pass: the last one shuffled again (Fisher-Yates)."""
        v = self.order
        for i in range(len(v), 1, -1):
            j = self._draw(i)
            v[i - 1], v[j] = v[j], v[i - 1]
        return torch.tensor(v)

    def retain(self, n):
        """n rows of D_r drawn uniformly with replacement, by rejecting D_f's."""
        out = []
        while len(out) < n:
            r = self.numbering[self._draw(len(self.numbering))]
            if r >= 0:
                out.append(r)
        return torch.tensor(out)
