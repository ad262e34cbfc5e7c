"""BiC, bias correction (Wu, Chen, Wang, Ye, Liu, Guo and Fu 2019, "Large Scale Incremental
Learning").

- Exemplars: max_stored samples in all, class-balanced and chosen by herding as iCaRL's
  (memory.Exemplars; the paper follows iCaRL's exemplar management), spread over each epoch's
  batches with the new task's samples (memory.Spread).
- Held-out part: from the second task on, v = max(1, round(holdout * m)) samples of each class
  are kept out of training (m = max_stored / classes after this task): the last v exemplars of
  each old class (herding's least representative) and v seeded random training samples of each
  new class, so that old and new classes have the same number (the paper's validation split).
- Stage 1 loss (replacing the protocol's), over the rows not held out:
      (1 - lambda) CE + lambda sum_{old classes} -softmax(o_old / T) log softmax(o / T),
  lambda = n_old / (n_old + n_new), T = 2 (the paper's eq. 1-3), CE over the logits of the
  classes seen so far (the row's task's in task-incremental learning), o_old the previous
  model's logits (a frozen copy at the end of the previous task, evaluation mode, its bias
  corrections applied) on the same inputs, both over the old classes; o the network's logits
  with every earlier task's correction applied, as at evaluation (FACIL's BiC trains
  through the frozen bias layers).
- Stage 2: the model frozen, a correction q = alpha o + beta of the new classes' logits (one
  pair per task, from 1 and 0; earlier tasks' pairs kept and applied) fitted on the held-out
  samples (evaluation mode, no augmentation, every earlier correction applied): bias_epochs
  epochs of SGD (lr: 0 = train.lr; train.momentum) in batches of train.batch_size over a
  seeded order, minimising the cross-entropy over the classes seen so far.
- Evaluation: the network's logits with every task's correction, the classes not seen yet at
  -inf (the paper's head grows with the classes: it has no outputs for them).
- Old classes are the earlier tasks' classes not in the current task: under domain-incremental
  learning there are none, so lambda = 0 and no correction is fitted (plain replay of the
  exemplars); the paper has no such protocol."""
import copy

import torch
import torch.nn.functional as F

from ..params import Param
from .base import Strategy
from .memory import Exemplars, Spread

TEMPERATURE = 2.0  # the paper's; lethe's plugin has no key for it


class BiasLayers:
    """Each task's (alpha, beta) on its new classes' logits."""

    def __init__(self):
        self.layers = []  # [(classes bool mask, alpha, beta)]

    def apply(self, logits, upto=None):
        out = logits
        for mask, a, b in self.layers[:upto]:
            out = torch.where(mask[None, :], a * out + b, out)
        return out


class BiC(Strategy):
    name = "bic"
    summary = "BiC: distillation with a held-out bias correction of the new classes (Wu et al.)"
    PARAMS = (
        Param("max_stored", "int", "2000", 1, 10**7,
              help="exemplars in all, shared over the classes seen, held-out part included"),
        Param("holdout", "float", "0.1", 0, 0.9,
              help="fraction of each class's share held out to fit the correction (Wu et al.: "
                   "0.1, train:val 9:1)"),
        Param("bias_epochs", "int", "200", 0, 10**5,
              help="epochs fitting the correction (FACIL: 200)"),
        Param("lr", "float", "0", 0, 10, help="learning rate of the correction (0: train.lr)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.exemplars = Exemplars(run, values["max_stored"])
        self.spread = Spread(run.generator(self.name, "spread"))
        self.gen = run.generator(self.name)
        self.bias = BiasLayers()
        self.seen = torch.zeros(run.num_classes, dtype=torch.bool)
        self.old_classes = self.new_classes = None
        self.old = None
        self.lam = 0.0
        self.held_ids = set()
        self.held = None
        self.v = 0

    def before_task(self, task):
        run, ex = self.run, self.exemplars
        self.old_classes = self.seen.clone()
        self.old_classes[task.classes] = False
        self.new_classes = ~self.seen & run.allowed[task.index]
        self.seen[task.classes] = True
        n_old, n_new = int(self.old_classes.sum()), int(self.new_classes.sum())
        self.lam = n_old / (n_old + n_new) if n_old + n_new else 0.0
        self.old, self.held, self.held_ids, self.v = None, None, set(), 0
        if n_old:
            self.old = copy.deepcopy(run.model).eval()
            for p in self.old.parameters():
                p.requires_grad_(False)
            self.old_bias = len(self.bias.layers)
            groups = len(ex.groups) + len(task.classes)
            if self.values["holdout"] > 0 and n_new:
                self.v = max(1, round(self.values["holdout"] * ex.per_group(groups)))
        v = self.v
        sizes = {(t, c): len(p) for t, c, p in ex.groups}
        old_v = (lambda t, c: max(0, min(v, sizes[t, c] - 1))) if v else None
        pos, tasks = ex.rows(skip=old_v)
        if v:
            held_pos, held_tasks = [], []
            for t, c, p in ex.groups:
                k = old_v(t, c)
                held_pos.append(p[len(p) - k:])
                held_tasks.append(torch.full((k,), t, dtype=torch.int64))
            ys = run.train.y[task.train]
            for c in self.new_classes.nonzero().flatten().tolist():
                cand = task.train[ys == c]
                pick = cand[torch.randperm(len(cand), generator=self.gen)[:min(v, len(cand) - 1)]]
                held_pos.append(pick)
                held_tasks.append(torch.full((len(pick),), task.index, dtype=torch.int64))
                self.held_ids.update(((task.index << 32) | pick).tolist())
            self.held = torch.cat(held_pos), torch.cat(held_tasks)
        self.spread.start(run, pos, tasks, task)

    def before_epoch(self, task, epoch):
        self.spread.epoch()

    def on_batch(self, batch):
        self.spread.append(batch)

    def stage1_loss(self, batch, logits, old_logits):
        run, T = self.run, TEMPERATURE
        keep = torch.tensor([int(i) not in self.held_ids for i in batch.ids])
        allowed = self.seen[None, :].expand_as(logits)
        m = run.mask(batch.tasks)
        if m is not None:
            allowed = allowed & m
        ce = F.cross_entropy(logits.masked_fill(~allowed, float("-inf")), batch.y,
                             reduction="none")
        loss = (1 - self.lam) * ce
        if old_logits is not None and self.lam:
            o = self.old_classes
            kd = -(torch.softmax(old_logits[:, o] / T, 1) *
                   torch.log_softmax(logits[:, o] / T, 1)).sum(1)
            loss = loss + self.lam * kd
        return loss[keep].sum() / max(1, int(keep.sum()))

    def on_logits(self, batch, logits, loss):
        old = None
        if self.old is not None:
            with torch.no_grad():
                old = self.bias.apply(self.old(batch.x), self.old_bias)
        return self.stage1_loss(batch, self.bias.apply(logits), old)

    def fit_bias(self, logits, y, tasks):
        """Appends this task's (alpha, beta), fitted on held-out logits (earlier corrections
        applied first) and labels."""
        run = self.run
        logits = self.bias.apply(logits)
        alpha = torch.ones((), requires_grad=True)
        beta = torch.zeros((), requires_grad=True)
        opt = torch.optim.SGD([alpha, beta], lr=self.values["lr"] or run.lr,
                              momentum=run.momentum)
        allowed = self.seen[None, :].expand_as(logits)
        m = run.mask(tasks)
        if m is not None:
            allowed = allowed & m
        new = self.new_classes
        for _ in range(self.values["bias_epochs"]):
            order = torch.randperm(len(y), generator=self.gen)
            for at in range(0, len(y), run.batch_size):
                s = order[at:at + run.batch_size]
                q = torch.where(new[None, :], alpha * logits[s] + beta, logits[s])
                loss = F.cross_entropy(q.masked_fill(~allowed[s], float("-inf")), y[s])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.bias.layers.append((new.clone(), float(alpha), float(beta)))

    def after_task(self, task):
        run = self.run
        if self.held is not None and self.values["bias_epochs"]:
            pos, tasks = self.held
            with run.evaluating(), torch.no_grad():
                x = run.transform(run.train.x[pos], tasks, train=False)
                logits = run.model(x)
            self.fit_bias(logits, run.train.y[pos], tasks)
            _, a, b = self.bias.layers[-1]
            run.log(self.name, f"task {task.index + 1}: correction alpha {a:.4f} beta {b:.4f} "
                    f"on {len(pos)} held-out samples")
        self.exemplars.add_task(task)

    def predict(self, x, task):
        if not self.seen.any():
            return None
        return self.bias.apply(self.run.model(x)).masked_fill(~self.seen[None, :], float("-inf"))

    def figures(self):
        return {"stored_samples": self.exemplars.count(),
                "corrections": [[a, b] for _, a, b in self.bias.layers]}
