"""Experience replay with asymmetric cross-entropy (Caccia, Aljundi, Asadi, Tuytelaars, Pineau
and Belilovsky 2022, "New Insights on Reducing Abrupt Representation Change in Online Continual
Learning").

Memory: a reservoir of max_stored samples over the stream of new training samples
(memory.Reservoir), each offered once after the batch's replay draw. Every batch from the
second task on (the paper's experiments know the task boundaries: the authors' code, and
Mammoth's er_ace, mask and replay only once the first task is over; task-free replay from the
first batch is an option of theirs, not what the paper reports) draws min(replay_batch, stored)
rows without replacement (0: train.batch_size); the loss is the sum of two means:
  - incoming rows: cross-entropy with the logits of classes seen so far but absent from the
    incoming batch masked out (classes present, and classes never seen, stay: the authors'
    mask; they unmask from the largest seen class index up, which is the same under ordered
    splits), on top of the protocol's task mask in task-incremental learning;
  - replayed rows: the protocol's cross-entropy (every class, or the row's task's).
The replayed rows go through the same forward pass as the incoming ones (the training
transform)."""
import torch
import torch.nn.functional as F

from .. import lethe_draws
from ..params import Param
from .base import Strategy
from .memory import Reservoir


def ace_loss(logits, y, seen, base_mask=None):
    """Mean cross-entropy over logits with the classes in seen but not in y masked out
    (base_mask: rows x classes allowed, or None)."""
    drop = seen.clone()
    drop[y.unique()] = False
    keep = ~drop[None, :].expand_as(logits)
    if base_mask is not None:
        keep = keep & base_mask
    return F.cross_entropy(logits.masked_fill(~keep, float("-inf")), y)


class ERACE(Strategy):
    name = "er_ace"
    summary = "experience replay with asymmetric cross-entropy (Caccia et al.)"
    PARAMS = (
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("replay_batch", "int", "0", 0, 10**6,
              help="stored samples added to every batch (0: train.batch_size)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        self.replay = values["replay_batch"] or run.batch_size
        self.memory = Reservoir(run, values["max_stored"], run.generator(self.name),
                                lethe=lethe_draws.plugin_stream(run, self.name))
        self.seen = torch.zeros(run.num_classes, dtype=torch.bool)
        self.task = 0

    def before_task(self, task):
        self.task = task.index

    def on_batch(self, batch):
        if self.task > 0 and self.memory.count:
            self.memory.append_to(batch, self.memory.draw(self.replay))
        self.memory.offer(batch)

    def on_logits(self, batch, logits, loss):
        run, h = self.run, batch.n_host
        y = batch.y[:h]
        self.seen[y.unique()] = True
        if self.task == 0:
            return loss
        loss = ace_loss(logits[:h], y, self.seen, run.mask(batch.tasks[:h]))
        if batch.n > h:
            loss = loss + run.loss(logits[h:], batch.y[h:], batch.tasks[h:])
        return loss

    def figures(self):
        return {"stored_samples": self.memory.count}
