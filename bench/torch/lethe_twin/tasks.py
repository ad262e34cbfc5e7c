"""Which samples each task holds, as lethe builds them (host/scenario.c, host/tasks.c):
- split = N: the C classes (C = the largest label + 1) in order, C/N to a task: {0,1}, {2,3}, ...
- task1 = ... taskN = ...: the listed classes; classes listed nowhere are neither trained nor
  tested (the head still has C outputs);
- permuted = N: every task holds every sample and class, with its own seeded permutation of the
  input's C*H*W positions; the first keeps the identity unless permute_first.
A task's train and test samples are its classes' samples in data set order; max_train and
max_test keep a seeded uniform subset of that many per task (each task its own draw, in data set
order). The permutations and the subsets define the tasks, so they follow lethe's documented
rule (rng.py): task k's permutation shuffles the identity with stream 0x100 + k of the run's
seed, its subsets are drawn train then test from stream 0x200 + k. Both sides then learn the
same tasks for a seed; the training's own draws (initial weights, batch order, strategies')
stay the twin's."""
import torch

from . import TwinError
from .rng import Rng, permutation, sample

STREAM_PERM, STREAM_LIMIT = 0x100, 0x200


class Task:
    def __init__(self, index, classes, train, test, perm):
        self.index, self.classes = index, classes
        self.train, self.test, self.perm = train, test, perm  # int64 positions; perm or None


def build(scn, train, test, num_classes):
    T = scn.num_tasks
    where = scn.ini.where("tasks", {"split": "split", "permuted": "permuted"}.get(scn.tasks_kind,
                                                                                 "task1"))
    tasks = []
    if scn.tasks_kind == "permuted":
        dim = train.x[0].numel()
        everything = list(range(num_classes))
        for k in range(T):
            perm = None
            if k > 0 or scn.permute_first:
                perm = permutation(dim, Rng(scn.seed, STREAM_PERM + k))
            tasks.append(Task(k, everything, torch.arange(len(train.y)),
                              torch.arange(len(test.y)), perm))
    else:
        if scn.tasks_kind == "split":
            if T > num_classes or num_classes % T:
                raise TwinError(f"{where}: [tasks] split = {T}: the data's {num_classes} classes "
                                f"do not divide into {T} equal tasks")
            per = num_classes // T
            lists = [list(range(k * per, (k + 1) * per)) for k in range(T)]
        else:
            lists = scn.task_lists
        present = set(train.y.unique().tolist())
        for k, classes in enumerate(lists):
            for c in classes:
                if c not in present:
                    raise TwinError(f"{where}: [tasks] task {k + 1}: class {c} is not in the "
                                    f"data (classes 0..{num_classes - 1})")
            cl = torch.tensor(classes)
            tr = torch.isin(train.y, cl).nonzero().flatten()
            te = torch.isin(test.y, cl).nonzero().flatten()
            if len(te) == 0:
                raise TwinError(f"{where}: [tasks] task {k + 1} has no test samples")
            tasks.append(Task(k, classes, tr, te, None))
    for t in tasks:
        rng = Rng(scn.seed, STREAM_LIMIT + t.index)
        t.train = sample(t.train, scn.max_train, rng)
        t.test = sample(t.test, scn.max_test, rng)
    return tasks
