"""Averaged GEM (Chaudhry, Ranzato, Rohrbach and Elhoseiny 2019, "Efficient Lifelong Learning
with A-GEM").

Memory: a reservoir of max_stored samples over the stream of new training samples (lethe's
rehearsal's, Mammoth's agem_r; memory.Reservoir), each sample offered once after the batch's
reference draw. From the second task on, each batch draws min(sample_size, stored) memory rows
uniformly without replacement (sample_size 0: train.batch_size) and takes the gradient g_ref of
their mean cross-entropy (training mode and transform, batch norm statistics left alone); if
g^T g_ref < 0 the batch's gradient becomes g - (g^T g_ref / g_ref^T g_ref) g_ref (the paper's
eq. 11). The memory holds the current task's samples too once they enter the reservoir."""
from .. import lethe_draws
from ..params import Param
from .base import Strategy
from .memory import Reservoir, flat_grad, rows_gradient, set_grad


def agem_project(g, ref):
    """A-GEM's projection of g against the reference gradient ref."""
    dot = float(g @ ref)
    if dot >= 0:
        return g
    return g - (dot / float(ref @ ref)) * ref


class AGEM(Strategy):
    name = "agem"
    summary = "averaged GEM: one projection on a memory batch's gradient (Chaudhry et al.)"
    PARAMS = (
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("sample_size", "int", "0", 0, 10**6,
              help="memory rows per reference gradient (0: train.batch_size)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.size = values["sample_size"] or run.batch_size
        self.memory = Reservoir(run, values["max_stored"], run.generator(self.name),
                                lethe=lethe_draws.plugin_stream(run, self.name))
        self.params = list(run.model.parameters())
        self.ref = None
        self.projections = 0

    def on_batch(self, batch):
        m = self.memory
        self.ref = None
        if batch.step > 0 and m.count:
            s = m.draw(self.size)
            self.ref = m.raw[s], m.y[s], m.tasks[s]  # copies: the offer may replace the slots
        m.offer(batch)

    def on_gradient(self, batch):
        if self.ref is None:
            return
        ref = rows_gradient(self.run, self.params, *self.ref)
        g = flat_grad(self.params)
        if float(g @ ref) < 0:
            self.projections += 1
            set_grad(self.params, agem_project(g, ref))

    def figures(self):
        return {"projected_batches": self.projections}
