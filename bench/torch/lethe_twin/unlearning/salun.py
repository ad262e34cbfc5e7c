"""SalUn (Fan, Liu, Zhang, Wong, Wei, Liu, "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024).

1. Saliency: g = the gradient of the mean CE over D_f at the model before the request
   (evaluation mode); the mask keeps the top `ratio` fraction of the weights by |g|: exactly
   floor(ratio x P) of the flat vector of every parameter (the authors' code takes a global
   top-k over the model; the paper's default keeps half), ties to the earlier position.
2. Random-label fine-tuning of the salient weights: `epochs` passes over a fresh shuffle of
   D_f in batches of `batch_size`, each forget row relabelled to a class drawn uniformly among
   its allowed ones other than its own (the paper's y' != y; allowed: its task's under
   task-incremental, else the learned tasks'), beside `retain_batch` rows of D_r drawn uniformly
   with replacement (the authors' code trains on D_f and D_r mixed); the loss the mean CE over
   all the rows; plain SGD, theta -= lr (grad * mask).
The twin's choices are lethe's plugin's (plugins/salun): pairing each forget batch with a
retained one keeps the cost in |D_f| where the authors' epoch walks D_r too."""
import torch

from ..params import Param


def saliency_mask(grads, ratio):
    """Masks (bool, like grads) keeping exactly floor(ratio P) of the P entries over all of
    them by |g|, larger first, ties to the earlier position in the flat order."""
    flat = torch.cat([g.reshape(-1) for g in grads]).abs().double()
    P = len(flat)
    k = int(ratio * P)
    # a stable sort of -|g|: equal magnitudes keep their positions' order
    order = torch.sort(-flat, stable=True).indices[:k]
    keep = torch.zeros(P, dtype=torch.bool)
    keep[order] = True
    out, at = [], 0
    for g in grads:
        out.append(keep[at:at + g.numel()].view_as(g))
        at += g.numel()
    return out


class SalUn:
    name = "salun"
    summary = "SalUn: saliency-masked random-label fine-tuning (Fan et al. 2024)"
    PARAMS = (
        Param("ratio", "float", "0.5", 0, 1,
              help="fraction of the weights the mask keeps, by |gradient of the forget loss| "
                   "(the paper: 0.5)"),
        Param("epochs", "int", "10", 1, 1000, help="passes over the forget set (the paper: 10)"),
        Param("lr", "float", "0", 0, 10, help="SGD learning rate (0: train.lr)"),
        Param("batch_size", "int", "0", 0, 65536, help="forget rows per step (0: train.batch_size)"),
        Param("retain_batch", "int", "0", 0, 65536,
              help="retained rows beside each forget batch (0: batch_size)"),
    )

    def __init__(self, values):
        self.v = values

    def unlearn(self, ctx):
        from ..unlearn import wrong_labels
        run, model, v = ctx.run, ctx.model, self.v
        rows = v["batch_size"] or run.batch_size
        retain_rows = v["retain_batch"] or rows
        lr = v["lr"] or run.lr
        params = list(model.parameters())
        model.eval()
        model.zero_grad(set_to_none=True)
        x, y, tk = ctx.rows(ctx.forget, torch.arange(len(ctx.forget)))
        run.loss(model(x), y, tk).backward()
        masks = saliency_mask([p.grad for p in params], v["ratio"])
        model.train()
        for _ in range(v["epochs"]):
            order = torch.randperm(len(ctx.forget), generator=ctx.gen)
            for at in range(0, len(order), rows):
                pick = order[at:at + rows]
                xf, _, tf = ctx.rows(ctx.forget, pick)
                sub = type(ctx.forget)(ctx.forget.pos[pick], ctx.forget.tasks[pick])
                yf = wrong_labels(run, sub, ctx.gen, ctx.request.after)
                xr, yr, tr = ctx.rows(ctx.retain, ctx.draw_retain(retain_rows))
                loss = run.loss(model(torch.cat((xf, xr))), torch.cat((yf, yr)),
                                torch.cat((tf, tr)))
                model.zero_grad(set_to_none=True)
                loss.backward()
                with torch.no_grad():
                    for p, m in zip(params, masks):
                        if p.grad is not None:
                            p -= lr * p.grad * m
        model.zero_grad(set_to_none=True)
        model.eval()
