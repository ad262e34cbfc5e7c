"""Memory Aware Synapses (Aljundi et al. 2018, "Memory Aware Synapses: Learning what (not) to
forget").

After each task, the importance of each parameter
    Omega_k += 1/N sum_n | d ||f(x_n)||_2^2 / d theta_k |
over the task's N training samples (or a seeded subset of `samples`), f the model's logits (in
task-incremental learning the task's own classes' logits, its head), the model in evaluation
mode, no augmentation; each sample's own gradient (the paper's definition, not the gradient of a
batch's sum). Importances add up over tasks (the paper's accumulation), theta* is the weights at
the end of the last task, and later tasks add lambda sum_k Omega_k (theta_k - theta*_k)^2."""
import torch

from ..params import Param
from ..persample import SquaredGrads
from .base import Strategy


class MAS(Strategy):
    name = "mas"
    summary = "memory aware synapses: importance from the output norm's gradient (Aljundi et al.)"
    PARAMS = (
        Param("lambda", "float", "1", 0, 1e9, help="weight of the penalty (Aljundi et al.: 1)"),
        Param("samples", "int", "0", 0, 10**7,
              help="samples per importance estimate, a seeded subset (0 = the whole task)"),
        Param("chunk", "int", "256", 1, 65536, help="rows per pass while estimating"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.lam = values["lambda"]
        self.params = list(run.model.parameters())
        self.omega = [torch.zeros_like(p) for p in self.params]
        self.anchor = None
        self.gen = run.generator(self.name)

    def importance(self, task):
        """1/N sum_n |d ||f(x_n)||^2 / d theta| over the task's (sampled) training samples."""
        run = self.run
        pos = task.train
        k = self.values["samples"]
        if k and k < len(pos):
            pos = pos[torch.randperm(len(pos), generator=self.gen)[:k].sort().values]
        cls = run.allowed[task.index] if run.protocol == "task-incremental" else None
        acc = {p: torch.zeros_like(p) for p in self.params}
        sq = SquaredGrads(run.model)
        rows = self.values["chunk"]
        with run.evaluating():
            for at in range(0, len(pos), rows):
                x, _ = run.inputs(pos[at:at + rows], task.index)
                out = sq.forward(x)
                if cls is not None:
                    out = out[:, cls]
                sq.accumulate((out * out).sum(), torch.ones(len(x)), acc, absolute=True)
        return [acc[p] / len(pos) for p in self.params]

    def after_task(self, task):
        for o, new in zip(self.omega, self.importance(task)):
            o += new
        self.anchor = [p.detach().clone() for p in self.params]

    def penalty(self, batch):
        if self.anchor is None or self.lam == 0:
            return None
        return self.lam * sum((o * (p - a) ** 2).sum()
                              for o, p, a in zip(self.omega, self.params, self.anchor))
