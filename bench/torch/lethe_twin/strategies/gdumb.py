"""GDumb (Prabhu, Torr and Dokania 2020, "GDumb: A Simple Approach that Questions Our Progress
in Continual Learning").

- Memory (the paper's Algorithm 1, greedy class-balanced sampler): every new training sample is
  offered once (by id, when first met); while fewer than max_stored are held it is stored;
  otherwise, if its class holds fewer than max_stored / |Y| samples (|Y|: the classes met so
  far, its own included), a seeded random sample of the class holding the most (the lowest
  class index among ties) is replaced by it.
- Before each evaluation (after every task) the model is set back to the run's initial weights
  and trained from scratch on the memory alone: `epochs` epochs over it in a fresh seeded order
  each, batches of `batch` (0: train.batch_size), the training transform, the protocol's loss,
  a fresh SGD (lr: 0 = train.lr; train.momentum and weight_decay). The host's own training on
  the stream is overwritten by this; the paper's SGDR schedule, cutmix and masking of the
  logits to the classes in memory are not kept."""
import torch

from ..params import Param
from .base import Strategy


class GDumb(Strategy):
    name = "gdumb"
    summary = "GDumb: class-balanced greedy memory, a model trained from scratch on it"
    PARAMS = (
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("epochs", "int", "10", 1, 10**5, help="epochs of the retraining on the memory"),
        Param("lr", "float", "0", 0, 10, help="its learning rate (0: train.lr)"),
        Param("batch", "int", "0", 0, 65536, help="its batch size (0: train.batch_size)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        cap = self.cap = values["max_stored"]
        self.raw = torch.empty((cap,) + tuple(run.train.x.shape[1:]), dtype=torch.uint8)
        self.y = torch.empty(cap, dtype=torch.int64)
        self.tasks = torch.empty(cap, dtype=torch.int64)
        self.count = 0
        self.per_class = torch.zeros(run.num_classes, dtype=torch.int64)
        self.met = torch.zeros(run.num_classes, dtype=torch.bool)
        self.offered = set()
        self.gen = run.generator(self.name)

    def _store(self, slot, raw, y, task):
        self.raw[slot], self.y[slot], self.tasks[slot] = raw, y, task
        self.per_class[y] += 1

    def offer(self, raw, y, task, sid):
        if sid in self.offered:
            return
        self.offered.add(sid)
        self.met[y] = True
        if self.count < self.cap:
            self._store(self.count, raw, y, task)
            self.count += 1
            return
        if self.per_class[y] * int(self.met.sum()) >= self.cap:  # count_y >= K / |Y|
            return
        largest = int(self.per_class.argmax())
        slots = (self.y[:self.count] == largest).nonzero().flatten()
        slot = int(slots[torch.randint(len(slots), (1,), generator=self.gen)])
        self.per_class[largest] -= 1
        self._store(slot, raw, y, task)

    def on_batch(self, batch):
        for i in range(batch.n_host):
            self.offer(batch.raw[i], int(batch.y[i]), int(batch.tasks[i]), int(batch.ids[i]))

    def after_task(self, task):
        run, v = self.run, self.values
        model = run.model
        model.load_state_dict(run.initial_state)
        opt = torch.optim.SGD(model.parameters(), lr=v["lr"] or run.lr, momentum=run.momentum,
                              weight_decay=run.weight_decay)
        bs = v["batch"] or run.batch_size
        model.train()
        for _ in range(v["epochs"]):
            order = torch.randperm(self.count, generator=self.gen)
            for at in range(0, self.count, bs):
                s = order[at:at + bs]
                x = run.transform(self.raw[s], self.tasks[s], train=True)
                loss = run.loss(model(x), self.y[s], self.tasks[s])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        held = torch.bincount(self.y[:self.count], minlength=run.num_classes)
        run.log(self.name, f"after task {task.index + 1}: retrained on {self.count} samples, "
                f"per class {','.join(map(str, held.tolist()))}")

    def figures(self):
        return {"stored_samples": self.count}
