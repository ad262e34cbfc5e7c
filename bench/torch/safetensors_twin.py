#!/usr/bin/python3
"""lethe's safetensors files in PyTorch, read and written with json and numpy alone (no safetensors
package), for Debian's python3-torch (/usr/bin/python3).

    safetensors_twin.py predict FILE [ROWS | --inputs X.npy]
        builds the nn.Sequential the file's metadata describes, loads the file into it with
        load_state_dict(strict=True), and prints "ROW ARGMAX" for each input: ROWS deterministic
        ones (default 8, made as tests/safetensors_tool.c makes them) or an array N x C x H x W
        (or N x CHW) of float32 in a .npy file.
    safetensors_twin.py write FILE LAYERS CxHxW CLASSES SEED ROWS [FILE LAYERS ...]...
        the reverse: the model LAYERS describes, PyTorch's default initialisation from SEED,
        batch norm's affine parameters drawn and its running statistics moved by one
        training-mode forward over ROWS deterministic inputs, written as lethe writes it
        (names, layouts, metadata); one file for each six arguments.
    safetensors_twin.py check ROWS|X.npy FILE LETHE_OUTPUT [FILE LETHE_OUTPUT]...
        runs each FILE on ROWS deterministic inputs (or on the rows of X.npy, as for predict:
        a run's test set as tests/safetensors_tool testset writes it) and compares with
        LETHE_OUTPUT, lethe's "ROW ARGMAX LOGIT..." lines (tests/safetensors_tool predict or
        testset): every logit of lethe and of PyTorch (float32) within a rounding bound of the
        float64 logits, and the same argmax on every row except where the top two float64
        logits lie within twice that bound.

The model: one Sequential index per item of the description (conv, dense, relu, maxpool, avgpool,
gap, bn, flatten, res), so that the state_dict's names are the file's: a dense item is an
nn.Linear on the flattened input (NCHW order), a res item Mammoth's BasicBlock (conv1, bn1,
conv2, bn2, shortcut.0 and shortcut.1 when it projects). Tensors stay N x C x H x W throughout,
as in lethe (a dense layer's output is N x out x 1 x 1), so bn is BatchNorm2d everywhere (the same
state_dict as BatchNorm1d).

The bound: a float32 pass differs from the exact result by at most the sum over the layers of
gamma(k) = k u / (1 - k u) (u = 2^-24, k the terms of a layer's sums) times the logits of a
magnitude pass, the network run on |x| with |W|, |b|, |gamma| / sqrt(var + eps), |mean|, |beta|
and ReLU as the identity (Higham, Accuracy and Stability of Numerical Algorithms, 3.1; to first
order): the error each layer makes is within its gamma times its magnitude, and later layers
carry it on no further than their magnitude maps do. Exit status 0 when all agree, 1 when a row
does not, 2 on bad input (one line on stderr)."""
import json
import math
import struct
import sys

import numpy as np
import torch
from torch import nn

U = 2.0 ** -24
BN_EPS = 1e-5
DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}


class TwinError(Exception):
    pass


# ---- the file ----

def read_file(path):
    """The tensors (name: numpy array) and the metadata of a safetensors file, checked as lethe
    checks it: the header within the file, the offsets tiling the data."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise TwinError(f"{path}: {len(raw)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise TwinError(f"{path}: a header of {n} bytes runs past the end of the file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except ValueError as e:
        raise TwinError(f"{path}: the header is not JSON: {e}") from None
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors, spans = {}, []
    for name, t in header.items():
        if t.get("dtype") not in DTYPES:
            raise TwinError(f"{path}: tensor {name} has dtype {t.get('dtype')}")
        begin, end = t["data_offsets"]
        dtype = np.dtype(DTYPES[t["dtype"]])
        if not 0 <= begin <= end <= len(data) or \
                end - begin != dtype.itemsize * math.prod(t["shape"]):
            raise TwinError(f"{path}: tensor {name}: data_offsets {begin, end} do not fit")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(t["shape"])
        spans.append((begin, end, name))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise TwinError(f"{path}: the data is not tiled by the tensors at {name}")
        at = end
    if at != len(data):
        raise TwinError(f"{path}: bytes {at} to {len(data)} of the data are in no tensor")
    return tensors, meta


def write_file(path, state, meta):
    """state (name: tensor) as safetensors, the header padded to 8 bytes as lethe's."""
    header, chunks, at = {"__metadata__": meta}, [], 0
    for name, t in state.items():
        a = t.detach().cpu().numpy()
        kind = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        raw = np.ascontiguousarray(a).astype(DTYPES[kind]).tobytes()
        header[name] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


# ---- the model ----

class BasicBlock(nn.Module):
    """Mammoth's BasicBlock: conv3x3(s) BN ReLU conv3x3 BN, plus x or conv1x1(s) BN of x, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Dense(nn.Linear):
    """nn.Linear on the flattened input, its output kept N x out x 1 x 1."""

    def forward(self, x):
        return super().forward(x.flatten(1)).view(x.shape[0], -1, 1, 1)


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1, 1, 1)


def parse_item(text):
    """(kind, n, options) of one item of lethe's grammar."""
    words = text.split()
    if not words:
        raise TwinError(f"an empty item in the layers")
    kind, rest, n, opts = words[0], words[1:], None, {}
    if rest and rest[0].isdigit():
        n = int(rest.pop(0))
    i = 0
    while i < len(rest):
        w = rest[i]
        if w == "nobias":
            opts["nobias"] = True
        elif w[0] in "ksp" and (w[1:].isdigit() or (not w[1:] and i + 1 < len(rest))):
            if not w[1:]:
                i += 1
            opts[w[0]] = int(w[1:] or rest[i])
        else:
            raise TwinError(f"item '{text}': unexpected '{w}'")
        i += 1
    return kind, n, opts


def build(layers, in_shape, classes):
    """The nn.Sequential of the description, one module per item."""
    c, h, w = in_shape
    mods = []
    items = [t.strip() for t in layers.split(",")]
    for index, text in enumerate(items):
        kind, n, o = parse_item(text)
        if kind == "conv":
            k, s, p = o["k"], o.get("s", 1), o.get("p", 0)
            mods.append(nn.Conv2d(c, n, k, s, p, bias=not o.get("nobias")))
            c, h, w = n, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind == "res":
            s = o.get("s", 1)
            mods.append(BasicBlock(c, n, s))
            c, h, w = n, (h - 1) // s + 1, (w - 1) // s + 1
        elif kind in ("maxpool", "avgpool"):
            k, s = n, o.get("s", n)
            mods.append((nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(k, s))
            h, w = (h - k) // s + 1, (w - k) // s + 1
        elif kind == "dense":
            out = n if n is not None else classes
            mods.append(Dense(c * h * w, out))
            c, h, w = out, 1, 1
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "gap":
            mods.append(nn.AdaptiveAvgPool2d(1))
            h, w = 1, 1
        elif kind == "bn":
            mods.append(nn.BatchNorm2d(c))
        elif kind == "flatten":
            mods.append(Flatten())
            c, h, w = c * h * w, 1, 1
        else:
            raise TwinError(f"item {index + 1} '{text}': unknown layer '{kind}'")
    if c != classes:
        raise TwinError(f"the layers end with {c} outputs, not the {classes} classes")
    return nn.Sequential(*mods)


def shape_of(text):
    try:
        c, h, w = (int(v) for v in text.split("x"))
    except ValueError:
        raise TwinError(f"'{text}' is not CxHxW") from None
    return c, h, w


def from_file(path):
    """The model a lethe file describes, its tensors loaded strictly; the input shape."""
    tensors, meta = read_file(path)
    for key in ("layers", "input", "classes"):
        if key not in meta:
            raise TwinError(f"{path}: the metadata has no '{key}'")
    classes = json.loads(meta["classes"])
    in_shape = shape_of(meta["input"])
    model = build(meta["layers"], in_shape, len(classes))
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise TwinError(f"{path}: " + " ".join(str(e).split())) from None
    return model.eval(), in_shape


def inputs(rows, in_shape):
    """tests/safetensors_tool.c's inputs: (float)(2 h / 2^32 - 1), h = i 2654435761 mod 2^32."""
    count = rows * math.prod(in_shape)
    i = np.arange(count, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) % np.uint64(2 ** 32)
    x = (2.0 * (h.astype(np.float64) / 2.0 ** 32) - 1.0).astype(np.float32)
    return torch.from_numpy(x.reshape(rows, *in_shape))


def logits(model, x):
    with torch.no_grad():
        return model(x).flatten(1)


# ---- the rounding bound ----

def gamma(k):
    return k * U / (1 - k * U)


def magnitude(mods, a):
    """The magnitude pass of modules mods on a >= 0 (float64), and the sum of their gammas."""
    g = 0.0
    for m in mods:
        if isinstance(m, nn.Conv2d):
            b = None if m.bias is None else m.bias.abs()
            a = nn.functional.conv2d(a, m.weight.abs(), b, m.stride, m.padding)
            g += gamma(m.in_channels * m.kernel_size[0] * m.kernel_size[1] + (b is not None))
        elif isinstance(m, Dense):
            a = (a.flatten(1) @ m.weight.abs().t() + m.bias.abs()).view(a.shape[0], -1, 1, 1)
            g += gamma(m.in_features + 1)
        elif isinstance(m, nn.BatchNorm2d):
            scale = m.weight.abs() / torch.sqrt(m.running_var + BN_EPS)
            a = (a + m.running_mean.abs().view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1) + \
                m.bias.abs().view(1, -1, 1, 1)
            # x - mean, times 1 / sqrt(var + eps) (three roundings), times gamma, plus beta
            g += gamma(7)
        elif isinstance(m, nn.MaxPool2d):
            a = m(a)
        elif isinstance(m, nn.AvgPool2d):
            a = m(a)
            g += gamma(m.kernel_size * m.kernel_size + 1)
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            g += gamma(a.shape[2] * a.shape[3] + 1)
            a = m(a)
        elif isinstance(m, BasicBlock):
            y, gy = magnitude([m.conv1, m.bn1, m.conv2, m.bn2], a)
            sc, gs = magnitude(list(m.shortcut), a)
            a, g = y + sc, g + gy + gs + gamma(1)
        elif isinstance(m, Flatten):
            a = m(a)
        # ReLU: |relu(z)| <= |z|, and no rounding
    return a, g


def bound(model, x):
    """Per logit, the bound on a float32 pass's distance from the exact logits."""
    m64 = model.double()
    with torch.no_grad():
        mag, g = magnitude(list(m64), x.double().abs())
    model.float()
    # The float64 reference's own error, the same sums at u = 2^-53, is within 1 % of the bound.
    return mag.flatten(1) * g * 1.01


def load_inputs(path, in_shape):
    """An array N x C x H x W (or N x CHW) of float32 in a .npy file, as the model takes it."""
    x = torch.from_numpy(np.load(path).astype(np.float32))
    return x.reshape(x.shape[0], *in_shape)


def check(source, path, output):
    """Compares lethe's output for path with PyTorch's, on ROWS deterministic inputs or those
    of a .npy file; the rows that do not agree."""
    model, in_shape = from_file(path)
    x = load_inputs(source, in_shape) if source.endswith(".npy") else \
        inputs(int(source), in_shape)
    rows = x.shape[0]
    z32 = logits(model, x).double()
    exact = logits(model.double(), x.double())
    model.float()
    tol = bound(model, x)
    lines = [line.split() for line in open(output) if line.strip()]
    if len(lines) != rows:
        raise TwinError(f"{output}: {len(lines)} rows, not {rows}")
    bad, worst = 0, 0.0
    for r, words in enumerate(lines):
        lethe = torch.tensor([float(v) for v in words[2:]], dtype=torch.float64)
        if int(words[0]) != r or lethe.numel() != exact.shape[1]:
            raise TwinError(f"{output}: row {r} is not 'ROW ARGMAX LOGIT...'")
        top2 = torch.topk(exact[r], min(2, exact.shape[1]))
        tied = exact.shape[1] > 1 and \
            float(top2.values[0] - top2.values[1]) <= 2 * float(tol[r].max())
        for name, z in (("lethe", lethe), ("PyTorch", z32[r])):
            excess = ((z - exact[r]).abs() - tol[r]).max().item()
            worst = max(worst, float(((z - exact[r]).abs() / tol[r]).max()))
            if excess > 0:
                print(f"{path}: row {r}: {name}'s logits are beyond the bound by {excess:.3g}")
                bad += 1
        if int(words[1]) != int(z32[r].argmax()) and not tied:
            print(f"{path}: row {r}: lethe predicts {words[1]}, PyTorch {int(z32[r].argmax())}")
            bad += 1
    print(f"{path}: {rows} rows, {'all agree' if not bad else f'{bad} disagreements'}; "
          f"largest error {worst:.3g} of the bound")
    return bad


def write_model(path, layers, in_shape, classes, seed, rows):
    torch.manual_seed(seed)
    model = build(layers, in_shape, classes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    model.train()
    with torch.no_grad():
        model(inputs(rows, in_shape))
    meta = {"format": "lethe", "layers": ", ".join(t.strip() for t in layers.split(",")),
            "input": "x".join(map(str, in_shape)),
            "classes": json.dumps([str(c) for c in range(classes)], separators=(",", ":"))}
    write_file(path, model.state_dict(), meta)


def main(argv):
    torch.set_num_threads(1)
    if len(argv) >= 2 and argv[0] == "predict":
        model, in_shape = from_file(argv[1])
        if len(argv) == 4 and argv[2] == "--inputs":
            x = load_inputs(argv[3], in_shape)
        else:
            x = inputs(int(argv[2]) if len(argv) > 2 else 8, in_shape)
        for r, c in enumerate(logits(model, x).argmax(1).tolist()):
            print(r, c)
        return 0
    if len(argv) > 1 and (len(argv) - 1) % 6 == 0 and argv[0] == "write":
        for i in range(1, len(argv), 6):
            path, layers, in_shape = argv[i], argv[i + 1], shape_of(argv[i + 2])
            write_model(path, layers, in_shape, int(argv[i + 3]), int(argv[i + 4]),
                        int(argv[i + 5]))
        return 0
    if len(argv) >= 4 and len(argv) % 2 == 0 and argv[0] == "check":
        bad = sum(check(argv[1], argv[i], argv[i + 1]) for i in range(2, len(argv), 2))
        return 1 if bad else 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (TwinError, OSError, KeyError, ValueError) as e:
        print(f"safetensors_twin: {e}", file=sys.stderr)
        sys.exit(2)
