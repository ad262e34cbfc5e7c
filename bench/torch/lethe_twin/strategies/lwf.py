"""Learning without Forgetting (Li and Hoiem 2017).

From the second task on, a frozen copy of the model as it was at the end of the previous task
(evaluation mode) gives its outputs y_o on the new task's training inputs (the same augmented
inputs the model sees), and the loss gains
    lambda * sum over old heads of mean_n [ - sum_c softmax(y_o / T)_c log softmax(y / T)_c ],
the paper's knowledge distillation loss (cross-entropy to the softened outputs, T = 2, no T^2
factor), over the protocol's own rows only (appended replay rows are not distilled). An "old
head" is: in task-incremental learning each earlier task's classes, one term each; in
class-incremental learning the classes of every earlier task together (the single head's old
outputs); in domain-incremental learning every class (each task has them all)."""
import copy

import torch

from ..params import Param
from .base import Strategy


def distillation(new, old, T):
    """mean over rows of -sum_c softmax(old / T)_c log softmax(new / T)_c."""
    return -(torch.softmax(old / T, 1) * torch.log_softmax(new / T, 1)).sum(1).mean()


class LwF(Strategy):
    name = "lwf"
    summary = "learning without forgetting: distillation to the previous model (Li and Hoiem)"
    PARAMS = (
        Param("lambda", "float", "1", 0, 1e9,
              help="weight of the distillation loss (Li and Hoiem: lambda_o = 1)"),
        Param("temperature", "float", "2", 1e-3, 1e3, help="softening T (Li and Hoiem: 2)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.lam, self.T = values["lambda"], values["temperature"]
        self.old, self.heads = None, []

    def before_task(self, task):
        run = self.run
        if task.index == 0:
            return
        self.old = copy.deepcopy(run.model).eval()
        for p in self.old.parameters():
            p.requires_grad_(False)
        earlier = run.tasks[:task.index]
        if run.protocol == "task-incremental":
            self.heads = [t.classes for t in earlier]
        elif run.protocol == "class-incremental":
            self.heads = [sorted({c for t in earlier for c in t.classes})]
        else:
            self.heads = [list(range(run.num_classes))]

    def on_logits(self, batch, logits, loss):
        if self.old is None or self.lam == 0:
            return loss
        h = batch.n_host
        with torch.no_grad():
            old = self.old(batch.x[:h])
        kd = sum(distillation(logits[:h, c], old[:, c], self.T) for c in self.heads)
        return loss + self.lam * kd
