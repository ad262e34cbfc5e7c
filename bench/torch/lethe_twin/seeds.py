"""Independent seeded streams: one per purpose (and index), all from the run's seed, so adding a
draw in one place never moves another's."""
import hashlib

import torch


def derive(seed, *names):
    """A 63-bit seed from the run's seed and a path of names and numbers."""
    text = "/".join(str(n) for n in (int(seed),) + names).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def generator(seed, *names):
    return torch.Generator().manual_seed(derive(seed, *names))
