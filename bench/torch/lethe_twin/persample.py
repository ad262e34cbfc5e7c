"""Per-sample squared (or absolute) gradients without a loop over samples: sum_n w_n g_n^2 (or
sum_n w_n |g_n|, MAS) per parameter, g_n sample n's own gradient of f_n (a function of its
logits alone), from one backward pass to the layer outputs:
- dense: g_n = delta_n a_n^T, so sum_n w_n g_n^2 = (w * delta^2)^T (a^2), one GEMM (and
  |delta a| = |delta| |a| likewise);
- conv: g_n = delta_n U_n^T with U_n the unfolded (im2col) input, one batched GEMM;
- batch norm in evaluation mode (running statistics: samples independent): g_gamma,n =
  sum over positions of delta * x_hat, g_beta,n = sum of delta.
The model must be in evaluation mode, so that one sample's output does not depend on another's
and the gradient of sum_n f_n to a layer's output is each sample's own delta."""
import torch
import torch.nn.functional as F
from torch import nn

from . import TwinError

CONV_ROWS = 32  # samples per batched GEMM of the conv kernels' per-sample gradients


class SquaredGrads:
    def __init__(self, model):
        self.model = model
        self.layers = []
        for m in model.modules():
            direct = list(m.parameters(recurse=False))
            if not direct:
                continue
            if not isinstance(m, (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)) or \
                    (isinstance(m, nn.Conv2d) and (m.groups != 1 or m.dilation != (1, 1))):
                raise TwinError(f"per-sample gradients: no rule for layer {m}")
            self.layers.append(m)
        self.inputs, self.outputs = {}, {}

    def forward(self, x):
        """The logits of x, keeping every layer's input and output for accumulate."""
        if self.model.training:
            raise TwinError("per-sample gradients need the model in evaluation mode")
        hooks = [m.register_forward_hook(self._keep) for m in self.layers]
        try:
            return self.model(x)
        finally:
            for h in hooks:
                h.remove()

    def _keep(self, module, inp, out):
        self.inputs[module] = inp[0].detach()
        self.outputs[module] = out

    def accumulate(self, total, weights, acc, absolute=False):
        """acc[p] += sum_n weights_n g_n^2 (absolute: |g_n|) for every parameter p, where
        total = sum_n f_n."""
        sq = torch.abs if absolute else torch.square
        outs = [self.outputs[m] for m in self.layers]
        deltas = torch.autograd.grad(total, outs, retain_graph=True)
        w = weights.detach()
        for m, d in zip(self.layers, deltas):
            a = self.inputs[m]
            if isinstance(m, nn.Linear):
                acc[m.weight] += (sq(d) * w[:, None]).t() @ sq(a)
                if m.bias is not None:
                    acc[m.bias] += (sq(d) * w[:, None]).sum(0)
            elif isinstance(m, nn.Conv2d):
                self._conv(m, a, d, w, acc, sq)
            else:
                shape = (1, -1) + (1,) * (a.dim() - 2)
                xhat = (a - m.running_mean.view(shape)) / torch.sqrt(
                    m.running_var.view(shape) + m.eps)
                dims = tuple(range(2, a.dim()))
                gg = (d * xhat).sum(dims) if dims else d * xhat
                gb = d.sum(dims) if dims else d
                acc[m.weight] += (sq(gg) * w[:, None]).sum(0)
                acc[m.bias] += (sq(gb) * w[:, None]).sum(0)

    @staticmethod
    def _conv(m, a, d, w, acc, sq):
        n, cout = d.shape[0], d.shape[1]
        for at in range(0, n, CONV_ROWS):
            sl = slice(at, at + CONV_ROWS)
            u = F.unfold(a[sl], m.kernel_size, padding=m.padding, stride=m.stride)
            dd = d[sl].reshape(u.shape[0], cout, -1)
            g = torch.bmm(dd, u.transpose(1, 2))  # (rows, Cout, Cin*k*k)
            acc[m.weight] += (sq(g) * w[sl, None, None]).sum(0).view_as(m.weight)
            if m.bias is not None:
                acc[m.bias] += (sq(dd.sum(2)) * w[sl, None]).sum(0)
