"""Gradient Episodic Memory (Lopez-Paz and Ranzato 2017).

Memory: the last memory_per_task samples of each task's first epoch (a ring buffer over the
task's training batches in their order, as the authors' code fills it), raw images with their
label and task. From the second task on, after the batch's gradient g (of the whole loss) is
computed, the gradient g_k of the mean (masked, in task-incremental learning) cross-entropy on
each earlier task k's memory is taken (the model in training mode with the training transform,
batch norm statistics left as they were); if any <g, g_k> < 0, g is replaced by the closest
vector to it in the cone <g~, g_k> >= 0, through the dual
    min_v 1/2 v^T G G^T v + g^T G^T v  subject to v >= margin,   g~ = G^T v + g,
solved exactly (qp.py). margin > 0 is the authors' memory_strength: the paper's "small constant
gamma >= 0 added to v*", which the authors' code writes as the bound v >= margin; with margin = 0
g~ is the exact projection. Weight decay is added by the optimiser after the projection."""
import torch

from ..params import Param
from .base import Strategy
from .memory import flat_grad, rows_gradient, set_grad
from .qp import gem_dual


class GEM(Strategy):
    name = "gem"
    summary = "gradient episodic memory: exact projection on earlier tasks' gradients"
    PARAMS = (
        Param("memory_per_task", "int", "256", 1, 10**7,
              help="samples kept of each task (Lopez-Paz and Ranzato: 256)"),
        Param("margin", "float", "0.5", 0, 1e6,
              help="memory_strength: the lower bound of the dual variables (authors' 0.5)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.m, self.margin = values["memory_per_task"], values["margin"]
        self.params = list(run.model.parameters())
        self.raw, self.y = [], []  # per task
        self.fill = 0
        self.projections = self.batches = 0

    def before_task(self, task):
        shape = (self.m,) + tuple(self.run.train.x.shape[1:])
        self.raw.append(torch.empty(shape, dtype=torch.uint8))
        self.y.append(torch.empty(self.m, dtype=torch.int64))
        self.fill = 0

    def on_batch(self, batch):
        if batch.epoch > 0:
            return
        raw, y = self.raw[-1], self.y[-1]
        for i in range(batch.n_host):
            raw[self.fill % self.m] = batch.raw[i]
            y[self.fill % self.m] = batch.y[i]
            self.fill += 1

    def after_task(self, task):
        n = min(self.fill, self.m)
        self.raw[-1], self.y[-1] = self.raw[-1][:n], self.y[-1][:n]

    def on_gradient(self, batch):
        k = batch.step
        if k == 0:
            return
        self.batches += 1
        g = flat_grad(self.params)
        G = torch.stack([
            rows_gradient(self.run, self.params, self.raw[j], self.y[j],
                          torch.full((len(self.y[j]),), j, dtype=torch.int64))
            for j in range(k) if len(self.y[j])])
        if not (G @ g < 0).any():
            return
        self.projections += 1
        v = gem_dual(G.double().numpy(), g.double().numpy(), self.margin)
        set_grad(self.params, g + (torch.from_numpy(v).to(G.dtype) @ G))

    def figures(self):
        return {"projected_batches": self.projections, "constrained_batches": self.batches}
