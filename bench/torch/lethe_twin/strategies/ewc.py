"""EWC (Kirkpatrick et al. 2017) and online EWC (Schwarz et al. 2018).

After task t, the diagonal Fisher F_t at the task's final weights theta*_t, over the task's
training samples (or a seeded subset of `samples`), with the model in evaluation mode and the
task's input transform, no augmentation; in task-incremental learning p(y|x) is the softmax over
the task's classes. Kinds (METHODS.md):
  exact      F = 1/N sum_n sum_y p(y|x_n) (d log p(y|x_n))^2
  sampled    one y ~ p(.|x_n) per sample
  empirical  the true label
  batched    (Avalanche) the square of the gradient of each batch's mean loss (batches of
             train.batch_size in data set order), averaged over the batches
Penalty on later tasks: separate (lambda/2) sum_k F_k (theta - theta*_k)^2, online
(lambda/2) F~ (theta - theta*_t)^2 with F~ = gamma F~ + F_t. It is added to the loss, so
autograd gives its gradient lambda sum_k F_k (theta - theta*_k).

guard (lethe's parameter, not the papers'): the penalty is a quadratic of curvature lambda S_i
along theta_i (S = sum_k F_k, or F~), and SGD with momentum mu diverges on it once
lr lambda S_i >= 2 (1 + mu). cap scales every F_k,i (F~_i) down so that lr lambda S_i is at most
0.9 of that bound; refuse stops the run naming the largest safe lambda.
"""
import time

import torch

from .. import TwinError, fail
from ..params import Param
from ..persample import SquaredGrads
from .base import Strategy


class EWC(Strategy):
    name = "ewc"
    summary = "elastic weight consolidation, per task or online"
    PARAMS = (
        Param("lambda", "float", "100", 0, 1e9, help="weight of the penalty"),
        Param("mode", "choice", "separate", choices=("separate", "online"),
              help="a Fisher and anchor per task, or online EWC's running one"),
        Param("gamma", "float", "1", 0, 1, help="online: decay of the running Fisher, in (0, 1]"),
        Param("fisher", "choice", "exact", choices=("exact", "sampled", "empirical", "batched"),
              help="how the diagonal Fisher is estimated (batched: Avalanche's)"),
        Param("samples", "int", "0", 0, 10**7,
              help="samples per Fisher, a seeded subset (0 = the whole task)"),
        Param("chunk", "int", "256", 1, 65536, help="rows per pass while computing the Fisher"),
        Param("guard", "choice", "cap", choices=("cap", "refuse"),
              help="where lr*lambda*F would make SGD diverge: cap those entries, or refuse"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        v = values
        self.lam, self.mode, self.gamma = v["lambda"], v["mode"], v["gamma"]
        if self.mode == "online" and self.gamma <= 0:
            raise TwinError("[ewc] gamma must be above 0 with mode = online")
        self.params = list(run.model.parameters())
        self.fishers, self.anchors = [], []  # separate: one per task; online: one
        self.gen = run.generator(self.name)
        self.seconds = 0.0
        self.capped = 0

    def _positions(self, task):
        pos = task.train
        k = self.values["samples"]
        if k and k < len(pos):
            pos = pos[torch.randperm(len(pos), generator=self.gen)[:k].sort().values]
        return pos

    def _fisher(self, task):
        run, kind = self.run, self.values["fisher"]
        pos = self._positions(task)
        acc = {p: torch.zeros_like(p) for p in self.params}
        rows = run.batch_size if kind == "batched" else self.values["chunk"]
        passes = 0
        allowed = run.allowed[task.index].nonzero().flatten().tolist() \
            if run.protocol == "task-incremental" else range(run.num_classes)
        sq = SquaredGrads(run.model)
        with run.evaluating():
            for at in range(0, len(pos), rows):
                x, y = run.inputs(pos[at:at + rows], task.index)
                tk = torch.full((len(y),), task.index, dtype=torch.int64)
                passes += 1
                if kind == "batched":
                    loss = run.loss(run.model(x), y, tk)
                    for p, g in zip(self.params, torch.autograd.grad(loss, self.params)):
                        acc[p] += g * g
                    continue
                logp = torch.log_softmax(run.masked(sq.forward(x), tk), dim=1)
                prob = logp.detach().exp()
                if kind == "exact":
                    for c in allowed:
                        sq.accumulate(logp[:, c].sum(), prob[:, c], acc)
                    continue
                if kind == "sampled":
                    y = torch.multinomial(prob, 1, generator=self.gen).flatten()
                picked = logp.gather(1, y[:, None]).sum()
                sq.accumulate(picked, torch.ones(len(y)), acc)
        scale = 1.0 / (passes if kind == "batched" else len(pos))
        return [acc[p].mul_(scale) for p in self.params], len(pos)

    def _guard(self):
        if self.lam == 0:
            return
        limit = 2.0 * (1.0 + self.run.momentum)
        for i in range(len(self.params)):
            total = sum(f[i] for f in self.fishers)
            top = float(total.max())
            if self.values["guard"] == "refuse":
                if self.run.lr * self.lam * top >= limit:
                    raise fail(f"ewc: lr*lambda*F reaches {self.run.lr * self.lam * top:.4g} >= "
                               f"{limit:g}: SGD would diverge; use lambda < "
                               f"{limit / (self.run.lr * top):.4g} or guard = cap")
                continue
            cap = 0.9 * limit / (self.run.lr * self.lam)
            over = total > cap
            if over.any():
                self.capped += int(over.sum())
                scale = torch.where(over, cap / total, torch.ones_like(total))
                for f in self.fishers:
                    f[i].mul_(scale)

    def after_task(self, task):
        t0 = time.monotonic()
        fisher, n = self._fisher(task)
        theta = [p.detach().clone() for p in self.params]
        if self.mode == "separate":
            self.fishers.append(fisher)
            self.anchors.append(theta)
        elif not self.fishers:
            self.fishers, self.anchors = [fisher], [theta]
        else:
            self.fishers[0] = [self.gamma * a + f for a, f in zip(self.fishers[0], fisher)]
            self.anchors[0] = theta
        capped = self.capped
        self._guard()
        self.seconds += time.monotonic() - t0
        top = max(float(f.max()) for f in fisher)
        self.run.log(self.name, f"{self.values['fisher']} Fisher of task {task.index + 1}: {n} "
                     f"samples in {time.monotonic() - t0:.3f} s; max {top:.4g}; "
                     f"{self.capped - capped} entries capped")

    def penalty(self, batch):
        if not self.fishers or self.lam == 0:
            return None
        total = 0.0
        for fisher, anchor in zip(self.fishers, self.anchors):
            for f, p, a in zip(fisher, self.params, anchor):
                total = total + (f * (p - a) ** 2).sum()
        return 0.5 * self.lam * total

    def figures(self):
        return {"fisher_seconds": self.seconds, "capped_entries": self.capped}
