"""What the memory strategies share: the reservoir (rehearsal, A-GEM, ER-ACE, DER, DER++), iCaRL's
herding and its class-balanced exemplar sets (iCaRL, BiC), the spreading of exemplars over an
epoch's batches, a gradient on extra rows that leaves the training state alone (GEM, A-GEM), and
the feature extractor (every layer but the head)."""
import contextlib

import torch
from torch import nn


class Reservoir:
    """Vitter's algorithm R over the stream of new training samples: each sample (by id) offered
    once, when first met; at most cap kept (raw uint8 image, label, task, id and, with logits =
    C, a row of C floats stored beside it: DER's logits). Its draws come from gen, or under
    --lethe-draws from lethe's plugin stream (lethe_draws.plugin_stream) by
    plugins/common/reservoir.c's rule: a slot j = below(seen) replaced when j < cap, and a
    memory draw the first k of a list of the slots shuffled in place, k steps of Fisher-Yates
    from the front."""

    def __init__(self, run, cap, gen, logits=0, lethe=None):
        self.cap, self.gen, self.lethe = cap, gen, lethe
        self.order = []  # under lethe's draws: reservoir.c's slot list
        self.raw = torch.empty((cap,) + tuple(run.train.x.shape[1:]), dtype=torch.uint8)
        self.y = torch.empty(cap, dtype=torch.int64)
        self.tasks = torch.empty(cap, dtype=torch.int64)
        self.ids = torch.empty(cap, dtype=torch.int64)
        self.logits = torch.empty(cap, logits) if logits else None
        self.count = self.seen = 0
        self.offered = set()

    def _store(self, slot, batch, i, logits):
        self.raw[slot] = batch.raw[i]
        self.y[slot] = batch.y[i]
        self.tasks[slot] = batch.tasks[i]
        self.ids[slot] = batch.ids[i]
        if logits is not None:
            self.logits[slot] = logits[i]

    def offer(self, batch, logits=None):
        """Offers the batch's protocol rows (logits: their rows, detached, for DER)."""
        for i in range(batch.n_host):
            sid = int(batch.ids[i])
            if sid in self.offered:
                continue
            self.offered.add(sid)
            self.seen += 1
            if self.count < self.cap:
                self._store(self.count, batch, i, logits)
                self.order.append(self.count)
                self.count += 1
                continue
            if self.lethe is not None:
                j = self.lethe.below(self.seen)
            else:
                j = int(torch.randint(self.seen, (1,), generator=self.gen))
            if j < self.cap:
                self._store(j, batch, i, logits)

    def purge(self, ids):
        """Drops the stored samples of ids, keeping the others in their order; the stream
        count (seen) stays, as the samples were met."""
        keep = ~torch.isin(self.ids[:self.count], ids)
        n = int(keep.sum())
        for field in (self.raw, self.y, self.tasks, self.ids, self.logits):
            if field is not None:
                field[:n] = field[:self.count][keep].clone()
        self.count = n
        self.order = list(range(n))  # reservoir.c's: the slots moved

    def draw(self, k):
        """min(k, count) slots drawn uniformly without replacement."""
        k = min(k, self.count)
        if self.lethe is None:
            return torch.randperm(self.count, generator=self.gen)[:k]
        o = self.order
        for i in range(k):
            j = i + self.lethe.below(self.count - i)
            o[i], o[j] = o[j], o[i]
        return torch.tensor(o[:k], dtype=torch.int64)

    def append_to(self, batch, slots):
        batch.append(self.raw[slots], self.y[slots], self.tasks[slots], self.ids[slots])

    def per_task(self, tasks):
        return torch.bincount(self.tasks[:self.count], minlength=tasks).tolist()


def features(model, x):
    """The head's input: the output of every layer but the last."""
    return model[:-1](x)


def herding(f, m):
    """iCaRL's herding (Rebuffi et al. 2017, Algorithm 4): the indices of min(m, n) rows of f,
    in order, each the one that brings the mean of the chosen L2-normalised features closest
    to the class mean; a row is chosen once."""
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    mu = f.mean(0)
    total = torch.zeros_like(mu)
    free = torch.ones(len(f), dtype=torch.bool)
    order = []
    for k in range(1, min(m, len(f)) + 1):
        d = ((mu - (total + f) / k) ** 2).sum(1)
        d[~free] = float("inf")
        i = int(d.argmin())
        order.append(i)
        free[i] = False
        total += f[i]
    return order


class Exemplars:
    """Class-balanced exemplar sets chosen by herding (iCaRL, BiC). A group is a (task, class)
    pair: under class- and task-incremental splits that is a class, as in the paper; under
    domain-incremental learning every task brings each class again, and each (task, class) gets
    its own set. The max_stored samples are shared equally over the groups so far (each keeps
    the first floor(max_stored / groups) of its herding order)."""

    def __init__(self, run, max_stored):
        self.run, self.max_stored = run, max_stored
        self.groups = []  # [(task, class, train positions in herding order)]

    def per_group(self, groups):
        return self.max_stored // groups

    def add_task(self, task):
        """Herds the task's classes (the model's current features, evaluation mode, no
        augmentation) and shrinks the earlier sets to the new share."""
        run = self.run
        m = self.per_group(len(self.groups) + len(task.classes))
        self.groups = [(t, c, pos[:m]) for t, c, pos in self.groups if m > 0]
        ys = run.train.y[task.train]
        for c in task.classes:
            pos = task.train[ys == c]
            if len(pos) == 0 or m == 0:
                continue
            f = self.features(pos, task.index)
            self.groups.append((task.index, c, pos[herding(f, m)]))

    def features(self, pos, task, chunk=500):
        run = self.run
        out = []
        with run.evaluating(), torch.no_grad():
            for at in range(0, len(pos), chunk):
                x, _ = run.inputs(pos[at:at + chunk], task)
                out.append(features(run.model, x))
        return torch.cat(out)

    def rows(self, skip=None):
        """(positions, tasks) of every exemplar, skip(task, class) -> how many of the group's
        last ones to leave out (BiC's held-out part)."""
        pos, tasks = [], []
        for t, c, p in self.groups:
            n = len(p) - (skip(t, c) if skip else 0)
            pos.append(p[:n])
            tasks.append(torch.full((n,), t, dtype=torch.int64))
        if not pos:
            return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64)
        return torch.cat(pos), torch.cat(tasks)

    def count(self):
        return sum(len(p) for _, _, p in self.groups)


class Spread:
    """A set of stored rows mixed into a task's training as one data set with its samples
    (iCaRL's and BiC's 'new data and exemplars'): each epoch a fresh seeded order of the rows,
    batch i of nb getting the slice [i E / nb, (i+1) E / nb), so that each row is met once an
    epoch, spread evenly over the batches."""

    def __init__(self, gen):
        self.gen = gen
        self.pos = self.tasks = None
        self.order, self.batches = None, 1

    def start(self, run, pos, tasks, task):
        self.run, self.pos, self.tasks = run, pos, tasks
        first = 0 if run.scn.baseline == "joint" else task.index
        samples = sum(len(t.train) for t in run.tasks[first:task.index + 1])
        self.batches = max(1, -(-samples // run.batch_size))

    def epoch(self):
        if self.pos is not None and len(self.pos):
            self.order = torch.randperm(len(self.pos), generator=self.gen)

    def append(self, batch):
        if self.pos is None or not len(self.pos):
            return 0
        e, i = len(self.pos), min(batch.index, self.batches - 1)
        pick = self.order[i * e // self.batches:(i + 1) * e // self.batches]
        p, t = self.pos[pick], self.tasks[pick]
        batch.append(self.run.train.x[p], self.run.train.y[p], t, (t << 32) | p)
        return len(pick)


@contextlib.contextmanager
def kept_state(model):
    """Inside, the model may run forward passes in training mode (batch norm on the batch's
    statistics) without its running statistics changing: they are put back on exit."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
    try:
        yield
    finally:
        for m, s in zip(bns, saved):
            m.load_state_dict(s)


def rows_gradient(run, params, raw, y, tasks):
    """The flattened gradient of the mean (protocol) cross-entropy of the model on the given
    rows, with the training transform, in training mode, leaving .grad and the batch norm
    statistics alone (lethe's model_rows_gradient)."""
    with kept_state(run.model):
        run.model.train()
        x = run.transform(raw, tasks, train=True)
        loss = run.loss(run.model(x), y, tasks)
        grads = torch.autograd.grad(loss, params)
    return torch.cat([g.reshape(-1) for g in grads])


def flat_grad(params):
    return torch.cat([p.grad.reshape(-1) for p in params])


def set_grad(params, flat):
    at = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[at:at + n].view_as(p))
        at += n
