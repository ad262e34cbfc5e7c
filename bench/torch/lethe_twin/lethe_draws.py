"""cl.py --lethe-draws: a diagnostic, not the twin's protocol. It takes the run's random draws
from lethe's own generator instead of the twin's, so that the twin follows lethe's trajectory
and what is left of a difference is the implementations', not the seeds':

- the initial weights: He normal per dense layer in order, W row by row (out x in), zero
  biases (MLP and init = he only: lethe's model today);
- the permutations of permuted tasks, the max_train/max_test subsets (selection sampling) and
  the batch order (each step's samples in data set order, shuffled again every epoch).

This mirrors host/rng.c (xoshiro256** seeded by splitmix64, Box-Muller normals, unbiased
rejection for bounded draws, Fisher-Yates) and the engine's stream numbers (0 initial weights,
1 batch order, 0x100 + k task k's permutation, 0x200 + k its subsets). It is tied to lethe's
C in a way the twin itself is not: when those change, this follows or goes. Strategies keep
their own draws (a reservoir's, a sampled Fisher's), so those still differ."""
import math

import torch

from . import TwinError

MASK = (1 << 64) - 1
STREAM_INIT, STREAM_ORDER, STREAM_PERM, STREAM_LIMIT = 0, 1, 0x100, 0x200


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Rng:
    def __init__(self, seed, stream):
        x = (seed ^ (stream * 0xd1b54a32d192ed03)) & MASK
        self.s = []
        for _ in range(4):
            x = (x + 0x9e3779b97f4a7c15) & MASK
            z = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK
            z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        result = (_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.u64() >> 11) * 2.0**-53

    def below(self, n):
        limit = MASK - MASK % n
        while True:
            x = self.u64()
            if x < limit:
                return x % n

    def normal(self):
        u1, u2 = 1.0 - self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def shuffle(self, v):
        for i in range(len(v), 1, -1):
            j = self.below(i)
            v[i - 1], v[j] = v[j], v[i - 1]


def _sample(positions, keep, rng):
    """Knuth's selection sampling, as tasks_limit keeps a subset in its order."""
    n = len(positions)
    if keep == 0 or n <= keep:
        return positions
    kept = []
    for i in range(n):
        if len(kept) == keep:
            break
        if rng.below(n - i) < keep - len(kept):
            kept.append(i)
    return positions[torch.tensor(kept)]


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
    """Replaces the prepared run's initial weights, permutations and subsets with lethe's."""
    scn = run.scn
    if scn.layers or scn.architecture != "mlp" or scn.init != "he" and not scn.init_file:
        raise TwinError("--lethe-draws: lethe's draws are known for architecture = mlp, "
                        "init = he or FILE.safetensors only")
    seed = scn.seed
    for t in run.tasks:
        if scn.tasks_kind == "permuted" and (t.index > 0 or scn.permute_first):
            v = list(range(run.train.x[0].numel()))
            Rng(seed, STREAM_PERM + t.index).shuffle(v)
            t.perm = torch.tensor(v)
    if scn.tasks_kind == "permuted":
        full_train, full_test = torch.arange(len(run.train.y)), torch.arange(len(run.test.y))
        for t in run.tasks:
            t.train, t.test = full_train, full_test
    else:
        for t in run.tasks:  # the twin's subsets undone: every sample of the task's classes
            cl = torch.tensor(t.classes)
            t.train = torch.isin(run.train.y, cl).nonzero().flatten()
            t.test = torch.isin(run.test.y, cl).nonzero().flatten()
    for t in run.tasks:
        r = Rng(seed, STREAM_LIMIT + t.index)
        t.train = _sample(t.train, scn.max_train, r)
        t.test = _sample(t.test, scn.max_test, r)
    run.transform.perms = [t.perm for t in run.tasks]
    if scn.init_file:  # the file's weights, loaded by prepare
        return Order(seed)
    r = Rng(seed, STREAM_INIT)
    with torch.no_grad():
        for m in run.model:
            if isinstance(m, torch.nn.Linear):
                sd = math.sqrt(2.0 / m.in_features)
                w = [sd * r.normal() for _ in range(m.weight.numel())]
                m.weight.copy_(torch.tensor(w, dtype=torch.float64).view_as(m.weight))
                m.bias.zero_()
    run.initial_state = {k: v.clone() for k, v in run.model.state_dict().items()}
    return Order(seed)
