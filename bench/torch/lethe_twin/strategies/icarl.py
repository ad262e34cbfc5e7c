"""iCaRL (Rebuffi, Kolesnikov, Sperl and Lampert 2017, "iCaRL: Incremental Classifier and
Representation Learning").

- Exemplars: max_stored samples in all (the paper's K), shared equally over the classes seen
  (memory.Exemplars: m = floor(K / classes)), each class's chosen by herding on the L2-normalised
  features (the head's input) of its training samples at the end of its task (Algorithm 4),
  earlier classes cut to their first m (Algorithm 5).
- Training (Algorithm 3): a task's training set is its samples and every exemplar, the
  exemplars spread over the epoch's batches (memory.Spread). The loss replaces the protocol's:
  sigmoid binary cross-entropy over the classes seen so far, summed over classes and averaged
  over rows; the target of class c is [y = c] for c a class of the current task (or any class
  not seen before) and sigmoid(old model's logit c) for c a class of an earlier task (the old
  model: a frozen copy from the end of the previous task, in evaluation mode, on the same
  inputs). Under domain-incremental learning every class is the current task's, so the loss
  is plain binary cross-entropy (no distillation): the paper has no such protocol.
- Evaluation (nme = true, Algorithm 1): the mean of each class's exemplars' normalised
  features (normalised again), and a test sample's class is the nearest mean to its normalised
  features; the scores are the negative distances (classes without exemplars: -inf). nme =
  false keeps the network's head. The paper's means also average each exemplar's flipped
  image; the twin does not (no flip unless data.flip)."""
import copy

import torch
import torch.nn.functional as F

from ..params import Param
from .base import Strategy
from .memory import Exemplars, Spread, features


class ICaRL(Strategy):
    name = "icarl"
    summary = "iCaRL: herding exemplars, distillation, nearest mean of exemplars (Rebuffi et al.)"
    PARAMS = (
        Param("max_stored", "int", "2000", 1, 10**7,
              help="exemplars in all, shared over the classes seen (Rebuffi et al.: K = 2000)"),
        Param("nme", "bool", "true",
              help="classify by the nearest mean of exemplars (false: the network's head)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.exemplars = Exemplars(run, values["max_stored"])
        self.spread = Spread(run.generator(self.name))
        self.seen = torch.zeros(run.num_classes, dtype=torch.bool)
        self.old_classes = torch.zeros(run.num_classes, dtype=torch.bool)
        self.old = None
        self.means = None

    def before_task(self, task):
        run = self.run
        self.old_classes = self.seen.clone()
        self.old_classes[task.classes] = False
        self.seen[task.classes] = True
        self.old = None
        if self.old_classes.any():
            self.old = copy.deepcopy(run.model).eval()
            for p in self.old.parameters():
                p.requires_grad_(False)
        pos, tasks = self.exemplars.rows()
        self.spread.start(run, pos, tasks, task)

    def before_epoch(self, task, epoch):
        self.spread.epoch()

    def on_batch(self, batch):
        self.spread.append(batch)

    def targets(self, batch, logits_old):
        t = F.one_hot(batch.y, self.run.num_classes).float()
        if logits_old is not None:
            t[:, self.old_classes] = torch.sigmoid(logits_old[:, self.old_classes])
        return t

    def on_logits(self, batch, logits, loss):
        old = None
        if self.old is not None:
            with torch.no_grad():
                old = self.old(batch.x)
        t = self.targets(batch, old)
        s = self.seen
        return F.binary_cross_entropy_with_logits(logits[:, s], t[:, s],
                                                  reduction="sum") / batch.n

    def after_task(self, task):
        self.exemplars.add_task(task)
        self.means = self.class_means()

    def class_means(self):
        ex, run = self.exemplars, self.run
        sums = torch.zeros(run.num_classes, 0)
        for t, c, pos in ex.groups:
            f = F.normalize(ex.features(pos, t), dim=1)
            if sums.shape[1] == 0:
                sums = torch.zeros(run.num_classes, f.shape[1])
                counts = torch.zeros(run.num_classes)
            sums[c] += f.sum(0)
            counts[c] += len(f)
        if sums.shape[1] == 0:
            return None
        have = counts > 0
        means = torch.zeros_like(sums)
        means[have] = F.normalize(sums[have] / counts[have, None], dim=1)
        return means, have

    def predict(self, x, task):
        if not self.seen.any():
            return None
        if not self.values["nme"] or self.means is None:
            return self.run.model(x).masked_fill(~self.seen[None, :], float("-inf"))
        means, have = self.means
        f = F.normalize(features(self.run.model, x), dim=1)
        scores = -torch.cdist(f, means)
        return scores.masked_fill(~have[None, :], float("-inf"))

    def figures(self):
        return {"stored_samples": self.exemplars.count()}
