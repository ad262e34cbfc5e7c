"""Rehearsal from a reservoir (experience replay with reservoir sampling, as in Chaudhry et al.
2019, "On Tiny Episodic Memories in Continual Learning"), with the choices lethe's rehearsal
plugin documents for schedule = reservoir:
- storage: copies of the raw samples (uint8 image, label, task, id), at most max_stored;
- Vitter's algorithm R over the stream of new training samples: every sample of the step's
  batches (not replayed rows) offered once, when first met (with epochs > 1: in the first
  epoch), after that batch's replay draw;
- replay: from the second task on, every batch gains min(replay_batch, stored) samples drawn
  without replacement from the whole buffer (replay_batch 0: train.batch_size); they take their
  own task's transform, logit mask (task-incremental) and the training augmentation, and the
  loss is the mean over all the batch's rows.
The other schedules of lethe's plugin (power-law, uniform, exponential) have no twin yet."""
from .. import TwinError
from ..params import Param
from .base import Strategy
from .memory import Reservoir


class Rehearsal(Strategy):
    name = "rehearsal"
    summary = "replay of stored samples (reservoir schedule)"
    PARAMS = (
        Param("schedule", "choice", "reservoir",
              choices=("power-law", "uniform", "exponential", "reservoir"),
              help="how much of each earlier task is replayed (the twin: reservoir only)"),
        Param("max_stored", "int", "500", 1, 10**7, help="samples stored, over all tasks"),
        Param("n0", "int", "0", 0, 10**9, help="(power-law, exponential; no twin)"),
        Param("n0_fraction", "float", "1.0", 0, 1, help="(power-law, exponential; no twin)"),
        Param("d0", "float", "10", 1e-6, 1e9, help="(power-law; no twin)"),
        Param("a", "float", "5.6", 0, 1e3, help="(power-law; no twin)"),
        Param("beta", "float", "1", 1e-6, 1e9, help="(exponential; no twin)"),
        Param("budget", "int", "0", 0, 10**9, help="(uniform; no twin)"),
        Param("replay_batch", "int", "0", 0, 10**6,
              help="stored samples added to every batch (0: train.batch_size)"),
    )

    def __init__(self, run, values):
        super().__init__(run, values)
        if values["schedule"] != "reservoir":
            raise TwinError(f"[rehearsal] schedule = {values['schedule']} has no twin yet "
                            "(reservoir has)")
        self.replay = values["replay_batch"] or run.batch_size
        self.memory = Reservoir(run, values["max_stored"], run.generator(self.name))

    def on_batch(self, batch):
        if batch.step > 0 and self.memory.count > 0:
            self.memory.append_to(batch, self.memory.draw(self.replay))
        self.memory.offer(batch)

    def forget(self, ids):
        self.memory.purge(ids)

    def after_task(self, task):
        held = self.memory.per_task(len(self.run.tasks))
        self.run.log(self.name, f"after task {task.index + 1}: stored per task "
                     f"{','.join(map(str, held[:task.index + 1]))}")

    def figures(self):
        m = self.memory
        return {"stored_samples": m.count, "stored_bytes": m.count * (m.raw[0].numel() + 16)}
