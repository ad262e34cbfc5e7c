"""The data sets as their authors distribute them, kept as uint8 images (N x C x H x W) and int64
labels: idx files (Fashion-MNIST, plain or .gz), CIFAR-10 and CIFAR-100 binary files. The input
transform turns uint8 rows into float inputs: pixel/255, per-channel (x - mean)/std, a task's
pixel permutation, and on training batches only the augmentation (random crop with zero
padding, horizontal flip), in torchvision's order: crop and flip the image, then convert."""
import gzip
import os

import numpy as np
import torch

from . import TwinError


class Split:
    """One split: x uint8 (N, C, H, W), y int64 (N,)."""

    def __init__(self, x, y):
        self.x, self.y = x, y


def _read(path):
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            return f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TwinError(f"{path}: cannot read: {e}")


def _idx(path, ndim):
    raw = _read(path)
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] != 8 or raw[3] != ndim:
        raise TwinError(f"{path}: not an idx file of {ndim}-d unsigned bytes")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    start, size = 4 + 4 * ndim, int(np.prod(dims))
    if len(raw) - start != size:
        raise TwinError(f"{path}: {len(raw) - start} bytes of data for shape {dims}")
    return np.frombuffer(raw, np.uint8, size, start).reshape(dims)


def _find(directory, name):
    for candidate in (os.path.join(directory, name + ".gz"), os.path.join(directory, name)):
        if os.path.isfile(candidate):
            return candidate
    raise TwinError(f"{directory}: no {name}[.gz]")


def load_idx(directory):
    splits = []
    for prefix in ("train", "t10k"):
        x = _idx(_find(directory, prefix + "-images-idx3-ubyte"), 3)
        y = _idx(_find(directory, prefix + "-labels-idx1-ubyte"), 1)
        if len(x) != len(y):
            raise TwinError(f"{directory}: {prefix}: {len(x)} images but {len(y)} labels")
        splits.append(Split(torch.from_numpy(x.copy()).unsqueeze(1),
                            torch.from_numpy(y.astype(np.int64))))
    return splits


def _cifar_file(path, label_bytes, which):
    raw = _read(path)
    rec = label_bytes + 3072
    if not raw or len(raw) % rec:
        raise TwinError(f"{path}: {len(raw)} bytes is not a whole number of {rec}-byte records")
    a = np.frombuffer(raw, np.uint8).reshape(-1, rec)
    return a[:, label_bytes:].reshape(-1, 3, 32, 32), a[:, which].astype(np.int64)


def _cifar_dir(directory, sub, names):
    for d in (os.path.join(directory, sub), directory):
        if all(os.path.isfile(os.path.join(d, n)) for n in names):
            return d
    raise TwinError(f"{directory}: no {', '.join(names)} (here or in {sub}/); the binary "
                    "version is at https://www.cs.toronto.edu/~kriz/cifar.html")


def load_cifar10(directory):
    train = [f"data_batch_{i}.bin" for i in range(1, 6)]
    d = _cifar_dir(directory, "cifar-10-batches-bin", train + ["test_batch.bin"])
    parts = [_cifar_file(os.path.join(d, n), 1, 0) for n in train]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xt, yt = _cifar_file(os.path.join(d, "test_batch.bin"), 1, 0)
    return [Split(torch.from_numpy(a.copy()), torch.from_numpy(b)) for a, b in ((x, y), (xt, yt))]


def load_cifar100(directory, labels):
    d = _cifar_dir(directory, "cifar-100-binary", ["train.bin", "test.bin"])
    which = 1 if labels == "fine" else 0
    out = []
    for n in ("train.bin", "test.bin"):
        x, y = _cifar_file(os.path.join(d, n), 2, which)
        out.append(Split(torch.from_numpy(x.copy()), torch.from_numpy(y)))
    return out


def load(scn):
    """(train, test, num_classes) of the scenario's data: classes = the largest label + 1."""
    if scn.source in ("fashion-mnist", "idx"):
        train, test = load_idx(scn.data_dir)
    elif scn.source == "cifar10":
        train, test = load_cifar10(scn.data_dir)
    else:
        train, test = load_cifar100(scn.data_dir, scn.labels)
    if len(train.y) == 0 or len(test.y) == 0:
        raise TwinError(f"{scn.data_dir}: no samples")
    if train.x.shape[1:] != test.x.shape[1:]:
        raise TwinError(f"{scn.data_dir}: train images are {tuple(train.x.shape[1:])}, test "
                        f"images {tuple(test.x.shape[1:])}")
    channels = train.x.shape[1]
    for key, v in (("mean", scn.mean), ("std", scn.std)):
        if v is not None and len(v) != channels:
            raise TwinError(f"{scn.ini.where('data', key)}: [data] {key} has {len(v)} values "
                            f"for {channels}-channel images")
    return train, test, int(max(train.y.max(), test.y.max())) + 1


class Transform:
    """uint8 rows of some tasks -> float inputs. perms[k] is task k's permutation of the
    flattened C*H*W positions (None: none)."""

    def __init__(self, scn, perms, gen):
        self.perms = perms
        self.crop, self.flip, self.gen = scn.crop, scn.flip, gen
        self.mean = None if scn.mean is None else torch.tensor(scn.mean).view(1, -1, 1, 1)
        self.std = None if scn.std is None else torch.tensor(scn.std).view(1, -1, 1, 1)

    def augments(self):
        return self.crop > 0 or self.flip

    def _augment(self, raw):
        n, _, h, w = raw.shape
        if self.crop:
            p = self.crop
            padded = torch.nn.functional.pad(raw, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
            rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
            raw = padded[torch.arange(n)[:, None, None, None],
                         torch.arange(raw.shape[1])[None, :, None, None], rows, cols]
        if self.flip:
            flip = torch.rand(n, generator=self.gen) < 0.5
            raw = torch.where(flip[:, None, None, None], raw.flip(3), raw)
        return raw

    def __call__(self, raw, tasks, train):
        """raw: uint8 (n, C, H, W); tasks: int64 (n,) each row's task; train: augment."""
        if train and self.augments():
            raw = self._augment(raw)
        x = raw.float().div_(255.0)
        if self.mean is not None:
            x = x.sub_(self.mean).div_(self.std)
        if any(p is not None for p in self.perms):
            flat = x.view(len(x), -1)
            for k in tasks.unique().tolist():
                if self.perms[k] is None:
                    continue
                rows = (tasks == k).nonzero().flatten()
                flat[rows] = flat[rows][:, self.perms[k]]
        return x
