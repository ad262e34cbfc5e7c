"""Models from design17.md: a comma-separated list of layers (the `layers =` grammar), the presets
written in that grammar, and the three initialisations.

Grammar: conv N k K [s S] [p P] [nobias] | dense [N] (no N: the classes; last only) | relu |
maxpool K [s S] | avgpool K [s S] | gap | bn | flatten | res N [s S] (a BasicBlock). Options are
written k3 or k 3. A dense layer flattens an image input; bn is per channel on images.

Presets: mlp = dense h1, relu, ..., dense; cnn = conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1,
relu, maxpool 2, flatten, dense 256, relu, dense; resnet18 = the CIFAR ResNet-18 of the
DER/Mammoth code (3x3 stem without max-pool, BasicBlocks [2,2,2,2] of width w, 2w, 4w, 8w, the
first of stages 2-4 with stride 2, a 1x1 conv + BN shortcut where the shape changes, global
average pooling, a linear head).

Initialisations: he = Kaiming normal (fan_in, ReLU gain) weights of every conv and dense layer,
zero biases; torch = PyTorch's own defaults (Kaiming uniform a = sqrt 5, biases U(+-1/sqrt fan_in));
xavier = Glorot uniform weights, zero biases. Batch norm starts at weight 1, bias 0 in all.
init = FILE.safetensors: the weights lethe export wrote (lethe's init = FILE), names and shapes
checked."""
import os
import re
import sys

import torch
from torch import nn

from . import TwinError


def preset(scn):
    if scn.layers:
        return scn.layers
    if scn.architecture == "mlp":
        return ", ".join([f"dense {h}, relu" for h in scn.hidden] + ["dense"])
    if scn.architecture == "cnn":
        return ("conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, flatten, "
                "dense 256, relu, dense")
    w = scn.width
    return (f"conv {w} k3 p1 nobias, bn, relu, res {w}, res {w}, res {2 * w} s2, res {2 * w}, "
            f"res {4 * w} s2, res {4 * w}, res {8 * w} s2, res {8 * w}, gap, dense")


class BasicBlock(nn.Module):
    """He et al.'s BasicBlock: conv3x3 BN ReLU conv3x3 BN, plus the shortcut, then ReLU."""

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


class Gap(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def _options(tokens, allowed, where):
    """{'k': 3, ...} and flags from tokens like k3, 'k 3', nobias."""
    opts, i = {}, 0
    while i < len(tokens):
        t = tokens[i]
        m = re.fullmatch(r"([a-z]+?)(\d*)", t)
        if t == "nobias" and "nobias" in allowed:
            opts["nobias"] = True
        elif m and m.group(1) in allowed and m.group(1) != "nobias":
            if m.group(2):
                opts[m.group(1)] = int(m.group(2))
            elif i + 1 < len(tokens) and tokens[i + 1].isdigit():
                i += 1
                opts[m.group(1)] = int(tokens[i])
            else:
                raise TwinError(f"{where}: '{t}' needs a number")
        else:
            raise TwinError(f"{where}: unexpected '{t}'")
        i += 1
    return opts


def _out(size, k, s, p, where, what):
    out = (size + 2 * p - k) // s + 1
    if k < 1 or s < 1 or out < 1:
        raise TwinError(f"{where}: {what} of kernel {k}, stride {s}, padding {p} does not fit "
                        f"an input of {size}")
    return out


def build(text, in_shape, num_classes, where_key="[model] layers"):
    """nn.Module for the layer list text on inputs of in_shape (C, H, W)."""
    items = [t.strip() for t in text.split(",")]
    shape = tuple(in_shape)  # (C, H, W), or (D,) once flat
    mods = []
    for n, item in enumerate(items, 1):
        where = f"{where_key}: item {n} '{item}'"
        tok = item.split()
        if not tok:
            raise TwinError(f"{where_key}: item {n} is empty")
        kind, rest = tok[0], tok[1:]
        number = rest.pop(0) if rest and rest[0].isdigit() else None
        spatial = len(shape) == 3
        shape_text = "x".join(map(str, shape))
        if kind in ("conv", "res", "maxpool", "avgpool", "gap") and not spatial:
            raise TwinError(f"{where}: needs an image (C x H x W) but gets a vector of "
                            f"{shape_text}")
        if kind == "conv":
            if number is None:
                raise TwinError(f"{where}: conv needs its channels (conv N k K ...)")
            o = _options(rest, ("k", "s", "p", "nobias"), where)
            if "k" not in o:
                raise TwinError(f"{where}: conv needs its kernel (k3)")
            k, s, p = o["k"], o.get("s", 1), o.get("p", 0)
            h = _out(shape[1], k, s, p, where, "conv")
            w = _out(shape[2], k, s, p, where, "conv")
            mods.append(nn.Conv2d(shape[0], int(number), k, s, p, bias=not o.get("nobias")))
            shape = (int(number), h, w)
        elif kind == "res":
            if number is None:
                raise TwinError(f"{where}: res needs its channels (res N [s S])")
            s = _options(rest, ("s",), where).get("s", 1)
            h, w = _out(shape[1], 3, s, 1, where, "res"), _out(shape[2], 3, s, 1, where, "res")
            mods.append(BasicBlock(shape[0], int(number), s))
            shape = (int(number), h, w)
        elif kind in ("maxpool", "avgpool"):
            if number is None:
                raise TwinError(f"{where}: {kind} needs its size ({kind} K [s S])")
            k = int(number)
            s = _options(rest, ("s",), where).get("s", k)
            h, w = _out(shape[1], k, s, 0, where, kind), _out(shape[2], k, s, 0, where, kind)
            mods.append((nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(k, s))
            shape = (shape[0], h, w)
        elif kind == "dense":
            if rest:
                raise TwinError(f"{where}: unexpected '{rest[0]}'")
            last = n == len(items)
            if number is None and not last:
                raise TwinError(f"{where}: only the last dense may leave out its size")
            out = num_classes if number is None else int(number)
            if last and out != num_classes:
                raise TwinError(f"{where}: the last layer gives {out} outputs for "
                                f"{num_classes} classes")
            if spatial:
                mods.append(nn.Flatten())
            d = 1
            for v in shape:
                d *= v
            mods.append(nn.Linear(d, out))
            shape = (out,)
        elif kind in ("relu", "gap", "bn", "flatten"):
            if rest or number is not None:
                raise TwinError(f"{where}: {kind} takes no arguments")
            if kind == "relu":
                mods.append(nn.ReLU())
            elif kind == "gap":
                mods.append(Gap())
                shape = (shape[0],)
            elif kind == "bn":
                mods.append(nn.BatchNorm2d(shape[0]) if spatial else nn.BatchNorm1d(shape[0]))
            elif spatial:
                mods.append(nn.Flatten())
                shape = (shape[0] * shape[1] * shape[2],)
        else:
            raise TwinError(f"{where}: unknown layer '{kind}' (conv, dense, relu, maxpool, "
                            "avgpool, gap, bn, flatten, res)")
    if not mods or not isinstance(mods[-1], nn.Linear):
        raise TwinError(f"{where_key}: the last layer must be dense (the classifier head)")
    return nn.Sequential(*mods)


def initialise(model, how):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if how == "he":
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif how == "xavier":
                nn.init.xavier_uniform_(m.weight)
            if how != "torch" and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def load_file(model, path):
    """The weights of a lethe safetensors file (lethe export, lethe's init = FILE) into model,
    every tensor's name and shape checked (load_state_dict strict)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import safetensors_twin
    try:
        tensors, _ = safetensors_twin.read_file(path)
    except OSError as e:
        raise TwinError(f"{path}: {e.strerror}") from None
    except safetensors_twin.TwinError as e:
        raise TwinError(str(e)) from None
    # The file numbers its modules as lethe's layers (a dense flattens its input itself), the
    # twin's MLP begins with an nn.Flatten: the modules with tensors are paired in order.
    ours = _by_module(model.state_dict())
    theirs = _by_module(tensors)
    if [sorted(t) for t in theirs.values()] != [sorted(t) for t in ours.values()]:
        raise TwinError(f"{path}: its layers' tensors ({', '.join(map(str, theirs))}: "
                        f"{list(theirs.values())}) are not the model's ({list(ours.values())})")
    state = {f"{mine}.{name}": torch.from_numpy(tensors[f"{its}.{name}"].copy())
             for mine, its in zip(ours, theirs) for name in ours[mine]}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise TwinError(f"{path}: " + " ".join(str(e).split())) from None


def _by_module(state):
    """{module prefix: [tensor names]} of a Sequential's state, in module order."""
    out = {}
    for key in state:
        mod, name = key.split(".", 1)
        out.setdefault(mod, []).append(name)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else -1))


def head(model):
    """The classifier head: the last dense layer."""
    return model[-1]


def describe(model):
    params = sum(p.numel() for p in model.parameters())
    return f"{len(model)} layers, {params} parameters"
