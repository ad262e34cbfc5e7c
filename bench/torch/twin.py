#!/usr/bin/python3
"""The PyTorch twin of lethe's split Fashion-MNIST scenarios, for bench/bench_compare.sh.

Runs the protocol of scenarios/split-fashion-{naive,ewc,rehearsal}.ini as a plain PyTorch
program would: the same idx.gz files, 5 class-incremental tasks of 2 classes ({0,1}, {2,3},
...), MLP 784-256-256-10 with ReLU, He (Kaiming normal, fan-in) weights and zero biases, SGD
lr 0.01 without momentum, batch 64, 2 epochs per task, every task's test accuracy after every
task (one 10-way head, no task id), and:

  ewc        separate EWC, lambda 100: after each task the exact diagonal Fisher
             sum_y p(y|x) (d log p(y|x)/d theta)^2 over the task's training samples, 256 rows
             a pass, and the penalty (lambda/2) sum_k F_k (theta - theta*_k)^2 through autograd
             from the next task on. The per-sample squares come as lethe's do, without a loop
             over samples: (delta^2)^T (a^2) per layer, delta from autograd.grad on the
             pre-activations, summed over classes before the product. Entries where
             lr lambda sum_k F_k passes 0.9 x 2 are capped as ewc's guard = cap does.
  rehearsal  a reservoir of 500 samples, copies of their pixels and labels (Vitter's algorithm R
             over the current task's samples, offered in the first epoch only, after the
             batch's draw); from the second task on every batch gains min(64, stored) stored
             samples drawn without replacement.

With --arch cnn the model is the CNN of split-fashion-cnn-{naive,rehearsal}.ini (two 3x3
convolutions of 32 and 64 channels with max-pooling, dense 256, He weights) and everything else
stays; PyTorch runs its convolutions through oneDNN (mkldnn_convolution, checked with
torch.profiler on Debian's 1.13).

Images stay uint8 and each batch is converted to float, as lethe does; --data float converts
the whole set up front instead, the usual in-memory PyTorch recipe (4x the images' memory).
Shuffling and draws use
torch's generator seeded with --seed, so accuracies match lethe's within run-to-run noise, not
bit for bit.

Prints one line of key=value figures: the wall time from the start of the script (imports and
data loading included), the training time, the peak RSS (getrusage ru_maxrss), ACC and BWT.
"""
import argparse
import gzip
import os
import resource
import sys
import time

T0 = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
SIZES = (784, 256, 256, 10)


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA, prefix + "-images-idx3-ubyte.gz"), 16).reshape(-1, 784)
    y = read_idx(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz"), 8)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


class CNN(torch.nn.Module):
    """lethe's architecture = cnn: conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu,
    maxpool 2, flatten, dense 256, relu, dense 10, with init = he (Kaiming normal, fan-in, on
    every weight; zero biases)."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 10))
        for m in self.net:
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                torch.nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x.view(-1, 1, 28, 28))


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(SIZES[i], SIZES[i + 1]) for i in range(len(SIZES) - 1))
        for lin in self.layers:
            torch.nn.init.kaiming_normal_(lin.weight, mode="fan_in", nonlinearity="relu")
            torch.nn.init.zeros_(lin.bias)

    def forward(self, x):
        for lin in self.layers[:-1]:
            x = F.relu(lin(x))
        return self.layers[-1](x)

    def forward_keep(self, x):
        """Logits, every layer's input and every layer's pre-activation."""
        inputs, pre = [], []
        for i, lin in enumerate(self.layers):
            inputs.append(x)
            z = lin(x)
            pre.append(z)
            x = F.relu(z) if i + 1 < len(self.layers) else z
        return x, inputs, pre


def to_float(x):
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


@torch.no_grad()
def evaluate(model, xte, yte, tests, chunk=1000):
    acc = []
    for idx in tests:
        correct = 0
        for at in range(0, len(idx), chunk):
            part = idx[at:at + chunk]
            correct += (model(to_float(xte[part])).argmax(1) == yte[part]).sum().item()
        acc.append(correct / len(idx))
    return acc


def exact_fisher(model, x, idx, chunk=256):
    """The exact diagonal Fisher over x[idx], in model.parameters() order."""
    params = list(model.parameters())
    fisher = [torch.zeros_like(p) for p in params]
    for at in range(0, len(idx), chunk):
        xb = to_float(x[idx[at:at + chunk]])
        logits, inputs, pre = model.forward_keep(xb)
        logp = F.log_softmax(logits, dim=1)
        p = logp.detach().exp()
        sq = [torch.zeros_like(z) for z in pre]
        for y in range(logits.shape[1]):
            deltas = torch.autograd.grad(logp[:, y].sum(), pre, retain_graph=True)
            for s, d in zip(sq, deltas):
                s.addcmul_(d * d, p[:, y:y + 1])
        for i, (s, a) in enumerate(zip(sq, inputs)):
            fisher[2 * i].addmm_(s.t(), a.detach() ** 2)
            fisher[2 * i + 1].add_(s.sum(0))
    return [f.div_(len(idx)) for f in fisher]


def cap_fisher(fishers, lr, lam):
    """ewc's guard = cap: where lr lambda sum_k F_k passes 0.9 x 2, scale every F_k down."""
    cap = 0.9 * 2.0 / (lr * lam)
    for i in range(len(fishers[0])):
        total = sum(f[i] for f in fishers)
        scale = torch.where(total > cap, cap / total, torch.ones_like(total))
        for f in fishers:
            f[i].mul_(scale)


class Reservoir:
    """Copies of the samples kept, as lethe's rehearsal stores them: pixels and labels."""

    def __init__(self, cap, gen, dtype):
        self.cap, self.gen = cap, gen
        self.x = torch.empty((cap, 784), dtype=dtype)
        self.y = torch.empty(cap, dtype=torch.int64)
        self.count = self.seen = 0

    def draw(self, rows):
        pick = torch.randperm(self.count, generator=self.gen)[:min(rows, self.count)]
        return self.x[pick], self.y[pick]

    def put(self, slot, x, y):
        self.x[slot] = x
        self.y[slot] = y

    def offer(self, x, y):
        for i in range(len(y)):
            self.seen += 1
            if self.count < self.cap:
                self.put(self.count, x[i], y[i])
                self.count += 1
                continue
            j = int(torch.randint(self.seen, (1,), generator=self.gen))
            if j < self.cap:
                self.put(j, x[i], y[i])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("strategy", choices=("naive", "ewc", "rehearsal"))
    ap.add_argument("--arch", choices=("mlp", "cnn"), default="mlp",
                    help="the MLP of split-fashion-*.ini or the CNN of split-fashion-cnn-*.ini")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=5, help="tasks of 10/tasks classes each")
    ap.add_argument("--hidden", type=int, default=256, help="width of both hidden layers")
    ap.add_argument("--stored", type=int, default=500, help="rehearsal: reservoir size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", choices=("uint8", "float"), default="uint8",
                    help="keep the images as uint8 and convert per batch, or as float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    global SIZES
    SIZES = (784, args.hidden, args.hidden, 10)
    lr, lam, batch = 0.01, 100.0, 64

    xtr, ytr = load("train")
    xte, yte = load("test")
    if args.data == "float":
        xtr, xte = to_float(xtr), to_float(xte)
    per = 10 // args.tasks
    classes = [list(range(k * per, (k + 1) * per)) for k in range(args.tasks)]
    trains = [torch.nonzero(torch.isin(ytr, torch.tensor(c))).flatten() for c in classes]
    tests = [torch.nonzero(torch.isin(yte, torch.tensor(c))).flatten() for c in classes]

    if args.arch == "cnn" and args.strategy == "ewc":
        ap.error("--arch cnn: ewc's Fisher here is the dense layers' (delta^2)^T (a^2); "
                 "the CNN twin runs naive and rehearsal")
    model = CNN() if args.arch == "cnn" else MLP()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    fishers, anchors = [], []
    buffer = Reservoir(args.stored, gen, xtr.dtype) if args.strategy == "rehearsal" else None
    R = []
    evaluate(model, xte, yte, tests)  # the untrained row, as lethe evaluates it
    train_seconds = fisher_seconds = 0.0
    for k, idx in enumerate(trains):
        t0 = time.monotonic()
        for epoch in range(args.epochs):
            order = idx[torch.randperm(len(idx), generator=gen)]
            for at in range(0, len(order), batch):
                ids = order[at:at + batch]
                xb, yb = xtr[ids], ytr[ids]
                if buffer is not None and k > 0:
                    xr, yr = buffer.draw(batch)
                    xb, yb = torch.cat((xb, xr)), torch.cat((yb, yr))
                loss = F.cross_entropy(model(to_float(xb)), yb)
                if fishers:
                    penalty = sum((f * (p - a) ** 2).sum()
                                  for fk, ak in zip(fishers, anchors)
                                  for f, p, a in zip(fk, model.parameters(), ak))
                    loss = loss + 0.5 * lam * penalty
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if buffer is not None and epoch == 0:
                    buffer.offer(xtr[ids], ytr[ids])
        train_seconds += time.monotonic() - t0
        if args.strategy == "ewc":
            t0 = time.monotonic()
            fishers.append(exact_fisher(model, xtr, idx))
            anchors.append([p.detach().clone() for p in model.parameters()])
            if k + 1 < args.tasks:
                cap_fisher(fishers, lr, lam)
            fisher_seconds += time.monotonic() - t0
        R.append(evaluate(model, xte, yte, tests))
    T = args.tasks
    acc = sum(R[-1]) / T
    bwt = sum(R[-1][j] - R[j][j] for j in range(T - 1)) / (T - 1) if T > 1 else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"strategy={args.strategy} arch={args.arch} threads={args.threads} wall={time.monotonic() - T0:.3f} "
          f"train={train_seconds:.3f} fisher={fisher_seconds:.3f} peak_rss={rss} "
          f"acc={acc:.4f} bwt={bwt:.4f} torch={torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
