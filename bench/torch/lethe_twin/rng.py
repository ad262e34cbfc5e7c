"""lethe's documented generator (host/util/rng.h, lethe-scenario(5) [tasks]): xoshiro256**
seeded through splitmix64 from (seed, stream), unbiased bounded draws by rejection,
Fisher-Yates shuffles and Knuth's selection sampling. The twin draws what defines the tasks
(permutations, max_train/max_test subsets) by this rule, so both sides learn the same tasks;
--lethe-draws also takes the training's draws from it (lethe_draws.py)."""
import math

import torch

MASK = (1 << 64) - 1


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


def permutation(n, rng):
    """The identity of n positions shuffled by rng (lethe's tasks_permuted)."""
    v = list(range(n))
    rng.shuffle(v)
    return torch.tensor(v)


def sample(positions, keep, rng):
    """Knuth's selection sampling, as lethe's tasks_limit: exactly keep of the positions, each
    subset equally likely, in their order (all of them when keep is 0 or not fewer)."""
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
