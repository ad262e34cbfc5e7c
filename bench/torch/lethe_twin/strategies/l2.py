"""L2 to the previous task's weights (Smith et al., "A Closer Look at Rehearsal-Free Continual
Learning"): loss CE + lambda sum_i (theta_i - theta*_i)^2, a plain sum of squares, over the
feature extractor (every parameter but the classifier head's) unless include_head. theta* is
the initial weights while the first task is learned, then the weights at the end of every task.

The pull alone is a quadratic of curvature 2 lambda: SGD with momentum mu diverges on it once
lr 2 lambda >= 2 (1 + mu), so lambda >= (1 + mu) / lr is refused, as lethe's l2 does."""

from .. import TwinError
from ..params import Param
from .base import Strategy


class L2(Strategy):
    name = "l2"
    summary = "L2 pull of the trunk towards the previous task's weights (Smith et al.)"
    PARAMS = (
        Param("lambda", "float", "0.01", 0, 1e9,
              help="weight of the sum of squares to the previous task's weights"),
        Param("include_head", "bool", "false",
              help="pull the classifier head too (the paper leaves it free)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.lam = values["lambda"]
        bound = (1.0 + run.momentum) / run.lr
        if self.lam >= bound:
            raise TwinError(f"[l2] lambda = {self.lam:g}: SGD on the pull alone diverges at "
                            f"lambda >= (1 + momentum) / lr = {bound:g}")
        head = {id(p) for p in run.head().parameters()}
        self.params = [p for p in run.model.parameters()
                       if values["include_head"] or id(p) not in head]
        self.anchor = [p.detach().clone() for p in self.params]

    def after_task(self, task):
        self.anchor = [p.detach().clone() for p in self.params]

    def penalty(self, batch):
        if self.lam == 0:
            return None
        total = sum(((p - a) ** 2).sum() for p, a in zip(self.params, self.anchor))
        return self.lam * total

    def figures(self):
        return {"state_bytes": 4 * sum(a.numel() for a in self.anchor)}
