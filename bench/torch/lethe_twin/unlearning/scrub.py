"""SCRUB (Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine
Unlearning", NeurIPS 2023).

The teacher is a frozen copy of the model at the request; the model (the student) alternates
  max steps on D_f batches:  L = -KL_T(teacher || student)
  min steps on D_r batches:  L = gamma CE + alpha KL_T(teacher || student)
with KL_T = T^2 KL(softmax(z_t / T) || softmax(z_s / T)), the batch's mean over rows (the
authors' DistillKL: kl_div(sum) T^2 / batch). Each of `epochs` epochs makes a max pass over a
fresh shuffle of D_f in batches of `forget_batch` (the first `msteps` epochs only: the paper's
schedule, so the last min passes repair what the max passes did), then a min pass of `steps`
batches of `batch_size` retained rows drawn uniformly with replacement (0: as many batches as
D_f fills). Plain SGD (the authors use momentum 0.9 or Adam). Task-incremental: the softmaxes
and the CE over each row's task's classes. The twin's choices are lethe's plugin's
(plugins/scrub)."""
import copy

import torch

from ..params import Param


def scrub_losses(student, teacher, y, mask, T, alpha, gamma, ce):
    """(max-step loss, min-step loss) of a batch of logits: the max step descends -KL (raises
    the divergence from the teacher), the min step gamma CE + alpha KL."""
    from ..unlearn import kl_soft
    kl = kl_soft(student, teacher.detach(), T, mask).mean()
    return -kl, gamma * ce(student, y) + alpha * kl


class SCRUB:
    name = "scrub"
    summary = "SCRUB: max steps from the teacher on D_f, min steps to it on D_r (Kurmanji 2023)"
    LETHE_DRAWS = True  # --lethe-draws: its D_f orders and D_r rows as lethe's plugin draws them
    PARAMS = (
        Param("alpha", "float", "0.001", 0, 1e6,
              help="min steps: weight of the KL to the teacher on D_r (the authors: 0.001)"),
        Param("gamma", "float", "0.99", 0, 1e6,
              help="min steps: weight of the CE on D_r (the authors: 0.99)"),
        Param("temperature", "float", "4", 0.01, 100, help="T (the authors' kd_T = 4)"),
        Param("epochs", "int", "5", 1, 1000, help="epochs, each a max pass then a min pass"),
        Param("msteps", "int", "2", 0, 1000, help="epochs that begin with a max pass over D_f"),
        Param("steps", "int", "0", 0, 10**8,
              help="min steps per epoch (0: as many as the forget set has batches)"),
        Param("lr", "float", "0.0005", 0, 10, help="SGD learning rate (0: train.lr)"),
        Param("batch_size", "int", "0", 0, 65536, help="rows per min step (0: train.batch_size)"),
        Param("forget_batch", "int", "0", 0, 65536,
              help="rows per max step (0: train.batch_size)"),
    )

    def __init__(self, values):
        self.v = values

    def unlearn(self, ctx):
        run, model, v = ctx.run, ctx.model, self.v
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        T, lr = v["temperature"], v["lr"] or run.lr
        rb = v["batch_size"] or run.batch_size
        fb = v["forget_batch"] or run.batch_size
        steps = v["steps"] or -(-len(ctx.forget) // rb)
        opt = torch.optim.SGD(model.parameters(), lr=lr)

        def step(x, y, tk, which):
            model.train()
            zs = model(x)
            with torch.no_grad():
                zt = teacher(x)
            up, down = scrub_losses(zs, zt, y, run.mask(tk), T, v["alpha"], v["gamma"],
                                    lambda z, yy: run.loss(z, yy, tk))
            opt.zero_grad(set_to_none=True)
            (up if which == "max" else down).backward()
            opt.step()

        for epoch in range(v["epochs"]):
            if epoch < v["msteps"]:
                order = ctx.forget_order()
                for at in range(0, len(order), fb):
                    step(*ctx.rows(ctx.forget, order[at:at + fb]), "max")
            for _ in range(steps):
                step(*ctx.rows(ctx.retain, ctx.draw_retain(rb)), "min")
        model.eval()
