"""The protocol: tasks learned in turn with plain SGD, every task's test accuracy after every
step (and before the first: the untrained row b), as lethe's engine defines it.

- Each step trains `epochs` epochs over its samples: the task's own (naive), or every task's so
  far shuffled together (joint), in a fresh seeded order each epoch, in batches of batch_size
  (the last one smaller), each sample converted with its own task's transform.
- Loss: mean softmax cross-entropy over the batch's rows (appended rows included). In
  task-incremental learning each row's logits outside its task's classes are masked out (-inf)
  in training and at evaluation; class- and domain-incremental use every class's logit.
- The model is in training mode (batch norm on batch statistics) for the training batches and in
  evaluation mode (running statistics) otherwise; augmentation is for training batches only.
- SGD is torch.optim.SGD (lr, momentum, weight_decay, the same for the whole run).
"""
import contextlib
import sys
import time

import torch
import torch.nn.functional as F

from . import TwinError, fail, metrics, models, unlearn
from . import data as data_mod
from . import lethe_draws as lethe_draws_mod
from . import tasks as tasks_mod
from .seeds import derive, generator

EVAL_CHUNK = 1000


class Batch:
    """The rows of one training step: raw uint8 images, labels, each row's task and id (lethe's
    (task << 32) | position). The first n_host rows are the protocol's; strategies append more.
    x (float inputs) is made after on_batch."""

    def __init__(self, raw, y, tasks, ids, step, epoch, index):
        self.raw, self.y, self.tasks, self.ids = raw, y, tasks, ids
        self.n_host = len(y)
        self.step, self.epoch, self.index = step, epoch, index
        self.x = None

    @property
    def n(self):
        return len(self.y)

    def append(self, raw, y, tasks, ids):
        self.raw = torch.cat((self.raw, raw))
        self.y = torch.cat((self.y, y))
        self.tasks = torch.cat((self.tasks, tasks))
        self.ids = torch.cat((self.ids, ids))


class Run:
    """What a strategy may use: the settings, model, optimiser, tasks and data, and services."""

    def __init__(self, scn, train, test, num_classes, tasks, transform, model, optimizer):
        self.scn, self.train, self.test = scn, train, test
        self.num_classes, self.tasks, self.transform = num_classes, tasks, transform
        self.model, self.optimizer = model, optimizer
        self.protocol = scn.protocol
        self.lethe_draws = False  # prepare's: lethe's draws (lethe_draws.py)
        self.lr, self.momentum, self.weight_decay = scn.lr, scn.momentum, scn.weight_decay
        self.batch_size, self.epochs, self.seed = scn.batch_size, scn.epochs, scn.seed
        self.initial_state = {k: v.clone() for k, v in model.state_dict().items()}
        allowed = torch.zeros(len(tasks), num_classes, dtype=torch.bool)
        for t in tasks:
            allowed[t.index, t.classes] = True
        self.allowed = allowed
        self.quiet = False

    def generator(self, source, *names):
        """A seeded stream of the strategy's own."""
        return generator(self.seed, "strategy", source, *names)

    def head(self):
        return models.head(self.model)

    def mask(self, tasks):
        """(n, C) bool of the classes each row may predict, or None (class/domain-IL)."""
        return self.allowed[tasks] if self.protocol == "task-incremental" else None

    def masked(self, logits, tasks):
        m = self.mask(tasks)
        return logits if m is None else logits.masked_fill(~m, float("-inf"))

    def loss(self, logits, y, tasks, reduction="mean"):
        return F.cross_entropy(self.masked(logits, tasks), y, reduction=reduction)

    def inputs(self, positions, task, split="train"):
        """Float inputs and labels of positions of split, with task's transform, no
        augmentation: what a strategy reads outside the training batches."""
        s = self.train if split == "train" else self.test
        tasks = torch.full((len(positions),), task, dtype=torch.int64)
        return self.transform(s.x[positions], tasks, train=False), s.y[positions]

    @contextlib.contextmanager
    def evaluating(self):
        """The model in evaluation mode (batch norm on running statistics) inside."""
        was = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was)

    def log(self, source, msg):
        if not self.quiet:
            print(f"{source}: {msg}", file=sys.stderr, flush=True)


def _evaluate(run, strategies):
    for p in run.model.parameters():
        if not torch.isfinite(p).all():
            raise fail(f"the parameters are NaN or infinite: the training diverged; train.lr = "
                       f"{run.lr:g} may be too large")
    acc = []
    with run.evaluating(), torch.no_grad():
        for t in run.tasks:
            correct = 0
            for at in range(0, len(t.test), EVAL_CHUNK):
                pos = t.test[at:at + EVAL_CHUNK]
                x, y = run.inputs(pos, t.index, split="test")
                scores = None
                for s in strategies:
                    scores = s.predict(x, t)
                    if scores is not None:
                        break
                if scores is None:
                    scores = run.model(x)
                tk = torch.full((len(pos),), t.index, dtype=torch.int64)
                correct += int((run.masked(scores, tk).argmax(1) == y).sum())
            acc.append(correct / len(t.test))
    return acc


class _Clock:
    def __init__(self):
        self.phases = {"train": 0.0, "evaluate": 0.0, "hooks": 0.0}

    @contextlib.contextmanager
    def phase(self, name):
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] += time.monotonic() - t0


def _call(clock, strategies, hook, *args):
    with clock.phase("hooks"):
        for s in strategies:
            getattr(s, hook)(*args)


class _Order:
    """The batch order: a fresh seeded permutation every epoch."""

    def __init__(self, gen):
        self.gen = gen

    def start(self, step):
        pass

    def permutation(self, n):
        return torch.randperm(n, generator=self.gen)


def _train_step(run, strategies, k, clock):
    scn, train, task = run.scn, run.train, run.tasks[k]
    _call(clock, strategies, "before_task", task)
    run.order.start(k)
    first = 0 if scn.baseline == "joint" else k
    pos = torch.cat([run.tasks[j].train for j in range(first, k + 1)])
    owner = torch.cat([torch.full((len(run.tasks[j].train),), j, dtype=torch.int64)
                       for j in range(first, k + 1)])
    n, bs = len(pos), scn.batch_size
    for epoch in range(scn.epochs):
        _call(clock, strategies, "before_epoch", task, epoch)
        order = run.order.permutation(n)
        for i, at in enumerate(range(0, n, bs)):
            t0 = time.monotonic()
            hooks0 = clock.phases["hooks"]
            pick = order[at:at + bs]
            p, tk = pos[pick], owner[pick]
            batch = Batch(train.x[p], train.y[p], tk, (tk << 32) | p, k, epoch, i)
            _call(clock, strategies, "on_batch", batch)
            run.model.train()
            batch.x = run.transform(batch.raw, batch.tasks, train=True)
            logits = run.model(batch.x)
            loss = run.loss(logits, batch.y, batch.tasks)
            if not torch.isfinite(loss):
                raise fail(f"step {k + 1}, epoch {epoch + 1}, batch {i + 1}: the loss is "
                           f"{float(loss)} before any strategy's term; train.lr = {scn.lr:g} "
                           "may be too large")
            with clock.phase("hooks"):
                for s in strategies:
                    loss = s.on_logits(batch, logits, loss)
                for s in strategies:
                    term = s.penalty(batch)
                    if term is not None:
                        loss = loss + term
            if not torch.isfinite(loss):
                raise fail(f"step {k + 1}, epoch {epoch + 1}, batch {i + 1}: the loss is "
                           f"{float(loss)} after the strategies' terms")
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _call(clock, strategies, "on_gradient", batch)
            run.optimizer.step()
            _call(clock, strategies, "after_batch", batch)
            clock.phases["train"] += time.monotonic() - t0 - (clock.phases["hooks"] - hooks0)
    _call(clock, strategies, "after_task", task)


def prepare(scn, registry, quiet=False, lethe_draws=False, data=None):
    """The run before its first evaluation: data, tasks, the initialised model, the optimiser
    and the strategies' instances (which may refuse their settings). lethe_draws: the initial
    weights and batch order from lethe's generator too (lethe_draws.py). data: the
    (train, test) splits already loaded (a retrain's second run)."""
    if data is None:
        train, test, C = data_mod.load(scn)
    else:
        train, test = data
        C = int(max(train.y.max(), test.y.max())) + 1
    tasks = tasks_mod.build(scn, train, test, C)
    transform = data_mod.Transform(scn, [t.perm for t in tasks], generator(scn.seed, "augment"))
    torch.manual_seed(derive(scn.seed, "init"))
    where = scn.ini.where("model", "layers" if scn.layers else "architecture")
    model = models.build(models.preset(scn), train.x.shape[1:], C,
                         f"{where}: [model] {'layers' if scn.layers else scn.architecture}")
    if scn.init_file:
        models.load_file(model, scn.init_file)
    else:
        models.initialise(model, scn.init)
    opt = torch.optim.SGD(model.parameters(), lr=scn.lr, momentum=scn.momentum,
                          weight_decay=scn.weight_decay)
    run = Run(scn, train, test, C, tasks, transform, model, opt)
    run.quiet = quiet
    run.lethe_draws = bool(lethe_draws)
    run.order = lethe_draws_mod.apply(run) if lethe_draws else \
        _Order(generator(scn.seed, "shuffle"))
    return run, [registry[name](run, values) for name, values in scn.plugins]


def _steps(run, strategies, n):
    """Steps 1..n of run (a retrain's), unevaluated."""
    clock = _Clock()
    for k in range(n):
        _train_step(run, strategies, k, clock)


def execute(scn, registry, quiet=False, lethe_draws=False):
    """Runs the scenario; returns the results as lethe's metrics.json names them."""
    if scn.forgets and lethe_draws and not quiet:
        print("cl.py: note: --lethe-draws: in forget steps, D_f and SCRUB's draws are lethe's; "
              "the other methods', the references' and the attacks' are the twin's own",
              file=sys.stderr)
    t_start = time.monotonic()
    run, strategies = prepare(scn, registry, quiet, lethe_draws)
    tasks, model = run.tasks, run.model
    clock = _Clock()

    with clock.phase("evaluate"):
        b = _evaluate(run, strategies)
    R, step_seconds, unlearning = [], [], []
    removed = torch.zeros(0, dtype=torch.int64)
    for k in range(len(tasks)):
        t0 = time.monotonic()
        _train_step(run, strategies, k, clock)
        with clock.phase("evaluate"):
            R.append(_evaluate(run, strategies))
        step_seconds.append(time.monotonic() - t0)
        if not quiet:
            s = metrics.summarise(R, b)
            print(f"twin: step {k + 1}/{len(tasks)}  task {k + 1} (classes "
                  f"{','.join(map(str, tasks[k].classes[:12]))}"
                  f"{',...' if len(tasks[k].classes) > 12 else ''})  {step_seconds[-1]:.1f} s  "
                  f"accuracy {' '.join(f'{a:.3f}' for a in R[-1][:k + 1])}  "
                  f"ACC {s['average_accuracy']:.4f}",
                  file=sys.stderr, flush=True)
        for f in (f for f in scn.forgets if f.after == k + 1):
            entry, removed = unlearn.run_request(run, strategies, f, scn.methods_registry,
                                                 registry, removed, _steps, quiet)
            unlearning.append(entry)

    out = {
        "twin": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                 "draws": "lethe's" if lethe_draws else "the twin's",
                 "model": models.describe(model), "layers": models.preset(scn)},
        "protocol": scn.protocol,
        "scenario": scn.name,
        "scenario_path": scn.path,
        "baseline": scn.baseline,
        "seed": scn.seed,
        "plugins": [name for name, _ in scn.plugins],
        "tasks": [{"classes": t.classes, "train": len(t.train), "test": len(t.test)}
                  for t in tasks],
        "accuracy_matrix": R,
        "untrained_accuracy": b,
    }
    out.update(metrics.summarise(R, b))
    if scn.forgets:
        out["unlearning"] = unlearning
    out["plugin_metrics"] = {s.name: s.figures() for s in strategies if s.figures()}
    out["seconds"] = {"steps": step_seconds, "total": time.monotonic() - t_start,
                      "phases": clock.phases}
    return out


__all__ = ["execute", "Run", "Batch", "TwinError"]
