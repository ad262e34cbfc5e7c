"""Synaptic Intelligence (Zenke, Poole and Ganguli 2017, "Continual Learning Through Synaptic
Intelligence").

While task mu is learned, each parameter's path integral omega_k += -g_k Delta theta_k over the
optimiser's steps, g the gradient of the task's own loss (the unregularised one: the protocol's
loss and any other strategy's terms, without SI's penalty, as the authors' code takes it) and
Delta theta the step SGD actually made (momentum and weight decay included). At the end of the
task, with Delta_k = theta_k(end) - theta_k(start of the task):
    Omega_k += omega_k / (Delta_k^2 + xi),   theta*_k = theta_k(end),   omega_k = 0,
and later tasks add the penalty lambda sum_k Omega_k (theta_k - theta*_k)^2 (the paper's c is
lambda). Omega is kept as computed (a negative omega, possible with momentum or another
strategy's terms, is not clipped).

guard (lethe's, not the paper's: docs/baselines.md): the penalty's curvature along theta_k is
2 lambda Omega_k, and SGD with momentum mu diverges on it once lr 2 lambda Omega_k >= 2 (1 + mu),
while a negative Omega_k makes it a hill that pushes theta_k away without bound; cap sets those
Omega_k to 0 and lowers the others to half that bound (the other half left to the loss's own
curvature), refuse stops the run, naming the largest safe lambda. Without it the unguarded
penalty diverges on permuted Fashion-MNIST at lr 0.05 (the shipped scenario's c = 0.1)."""
import torch

from .. import fail
from ..params import Param
from .base import Strategy


class SI(Strategy):
    name = "si"
    summary = "synaptic intelligence: path-integral importance, quadratic penalty (Zenke et al.)"
    PARAMS = (
        Param("lambda", "float", "0.1", 0, 1e9,
              help="weight c of the penalty (Zenke et al.: 0.1 on permuted MNIST)"),
        Param("xi", "float", "0.001", 1e-12, 1e9,
              help="damping of Omega = omega / (Delta^2 + xi) (Zenke et al.: 1e-3)"),
        Param("guard", "choice", "cap", choices=("cap", "refuse"),
              help="where lr*2*lambda*Omega would make SGD diverge: cap Omega there, or refuse"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.lam, self.xi = values["lambda"], values["xi"]
        self.params = list(run.model.parameters())
        self.omega = [torch.zeros_like(p) for p in self.params]
        self.big_omega = [torch.zeros_like(p) for p in self.params]
        self.anchor = [p.detach().clone() for p in self.params]
        self.start = None
        self.before = [torch.empty_like(p) for p in self.params]
        self.grad = [torch.empty_like(p) for p in self.params]
        self.capped = 0
        self.trained = False

    def before_task(self, task):
        self.start = [p.detach().clone() for p in self.params]

    def on_gradient(self, batch):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                self.before[i].copy_(p)
                self.grad[i].copy_(p.grad)
                if self.trained and self.lam:
                    # SI's own term out: its gradient is 2 lambda Omega (theta - theta*)
                    self.grad[i].sub_(2 * self.lam * self.big_omega[i] * (p - self.anchor[i]))

    def after_batch(self, batch):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                self.omega[i].sub_(self.grad[i] * (p - self.before[i]))

    def after_task(self, task):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                delta = p - self.start[i]
                self.big_omega[i].add_(self.omega[i] / (delta * delta + self.xi))
                self.omega[i].zero_()
                self.anchor[i].copy_(p)
        self.trained = True
        self._guard()

    def _guard(self):
        if self.lam == 0:
            return
        limit = 2.0 * (1.0 + self.run.momentum)
        cap = 0.5 * limit / (2 * self.run.lr * self.lam)
        for w in self.big_omega:
            top = float(w.max())
            if self.values["guard"] == "refuse":
                if float(w.min()) < 0:
                    raise fail("si: Omega is negative for some parameters: the penalty would "
                               "push them away without bound; use guard = cap")
                reach = self.run.lr * 2 * self.lam * top
                if reach >= limit:
                    raise fail(f"si: lr*2*lambda*Omega reaches {reach:.4g} >= {limit:g}: SGD "
                               f"would diverge; use lambda < "
                               f"{limit / (2 * self.run.lr * top):.4g} or guard = cap")
                continue
            self.capped += int((w > cap).sum())
            w.clamp_(min=0, max=cap)

    def penalty(self, batch):
        if not self.trained or self.lam == 0:
            return None
        return self.lam * sum((w * (p - a) ** 2).sum()
                              for w, p, a in zip(self.big_omega, self.params, self.anchor))

    def figures(self):
        return {"capped_entries": self.capped}
