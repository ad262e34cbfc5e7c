"""Dark Experience Replay and DER++ (Buzzega, Boschini, Porrello, Abati and Calderara 2020,
"Dark Experience for General Continual Learning: a Strong, Simple Baseline").

Memory: a reservoir of max_stored samples over the stream of new training samples
(memory.Reservoir), each stored with the logits the model gave it in the training forward pass
where it was met (every class's logit, before any task mask; training mode, the augmented
input), offered once after the batch's replay draws. Every batch, from the first one the memory
is not empty (the paper replays throughout, the current task's stored samples included), the
loss is
    CE(incoming rows) + alpha * MSE(f(x'), z')                 (der)
    CE(incoming rows) + alpha * MSE(f(x'), z') + beta * CE(f(x''), y'')   (derpp)
x' and x'' two independent draws of min(replay_batch, stored) rows without replacement
(replay_batch 0: train.batch_size), z' their stored logits; MSE is the mean over rows and
classes of the squared difference (the authors' code's F.mse_loss; the paper writes the squared
norm), each CE a mean over its rows, the protocol's (masked in task-incremental learning).
Defaults: Mammoth's best on split CIFAR-10 with 500 samples (der alpha 0.3; derpp 0.1, 0.5)."""
import torch
import torch.nn.functional as F

from .. import lethe_draws
from ..params import Param
from .base import Strategy
from .memory import Reservoir


class DER(Strategy):
    name = "der"
    summary = "dark experience replay: stored logits matched by MSE (Buzzega et al.)"
    PARAMS = (
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("replay_batch", "int", "0", 0, 10**6,
              help="stored samples per replay draw (0: train.batch_size)"),
        Param("alpha", "float", "0.3", 0, 1e6, help="weight of the logit MSE (Mammoth: 0.3)"),
    )
    draws = 1

    def __init__(self, run, values):
        super().__init__(run, values)
        self.replay = values["replay_batch"] or run.batch_size
        self.alpha = values["alpha"]
        self.beta = values.get("beta", 0.0)
        self.memory = Reservoir(run, values["max_stored"], run.generator(self.name),
                                logits=run.num_classes,
                                lethe=lethe_draws.plugin_stream(run, self.name))
        self.slices = []

    def on_batch(self, batch):
        m = self.memory
        self.slices = []
        if not m.count:
            return
        for _ in range(self.draws):
            slots = m.draw(self.replay)
            self.slices.append((batch.n, batch.n + len(slots), m.logits[slots]))
            m.append_to(batch, slots)

    def on_logits(self, batch, logits, loss):
        run, h = self.run, batch.n_host
        self.memory.offer(batch, logits[:h].detach())
        loss = run.loss(logits[:h], batch.y[:h], batch.tasks[:h])
        return loss + self.replay_loss(batch, logits)

    def replay_loss(self, batch, logits):
        total = torch.zeros(())
        for k, (a, b, z) in enumerate(self.slices):
            if k == 0:
                total = total + self.alpha * F.mse_loss(logits[a:b], z)
            else:
                total = total + self.beta * self.run.loss(logits[a:b], batch.y[a:b],
                                                          batch.tasks[a:b])
        return total

    def figures(self):
        return {"stored_samples": self.memory.count}


class DERpp(DER):
    name = "derpp"
    summary = "DER++: DER plus cross-entropy on a second draw of stored samples"
    PARAMS = (
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("replay_batch", "int", "0", 0, 10**6,
              help="stored samples per replay draw (0: train.batch_size)"),
        Param("alpha", "float", "0.1", 0, 1e6, help="weight of the logit MSE (Mammoth: 0.1)"),
        Param("beta", "float", "0.5", 0, 1e6,
              help="weight of the second draw's cross-entropy (Mammoth: 0.5)"),
    )
    draws = 2
