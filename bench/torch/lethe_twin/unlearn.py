"""Forget requests ([forgetN] sections), as lethe's protocol defines them (lethe-scenario(5),
docs/unlearning.md, /work/shared/METHODS.md "Unlearning evaluation"):

- A request comes after learning step `after` (and its evaluation). `what = class`: every
  training sample of `classes`; `task`: task `task`'s samples; `samples`: a seeded draw of
  round(fraction x n) of task `task`'s n samples. The request's samples leave every task, so
  later steps never train on them; D_f is those of the tasks learned by then, D_r every other
  training sample of those tasks, D_test their test rows (less the forgotten classes' for a
  class request).
- References, each measured like the method: retrain (`retrain = sequence`: the scenario's
  steps 1..after again from the initial weights, the same strategies and seeds, without
  everything forgotten so far; `joint`: `retrain_epochs` (0: train.epochs x after) epochs on
  D_r from the initial weights), finetune (`finetune_epochs` on D_r), gradient_ascent
  (`ascent_epochs` of ascent on D_f at `ascent_lr`, stopped at the last finite weights),
  random_labels (`finetune_epochs` on D_f relabelled to a wrong class, with D_r, one shuffled
  set); the last
  three start from the model before the request, with a fresh SGD of the scenario's settings.
- Then the plugin's method runs on the model, the data leaves, and the model is measured:
  UA = 1 - accuracy on D_f, RA on D_r, TA on D_test, MIA-efficacy: a threshold on -log p(y|x)
  (over the row's allowed classes) fitted to k = min(|D_r|, |D_test|, 5000) rows of each (D_r
  members, D_test not; drawn uniformly), the cut classifying those best, among equally good
  ones the one calling most rows members, halfway between the scores either side; the
  fraction of D_f above it. gap_to_retrain = mean |x - retrain's x| over UA, RA, TA, MIA.
Evaluation mode throughout; the draws are the twin's own (a per-request seeded stream), except
under --lethe-draws D_f's and SCRUB's (lethe_draws.py)."""
import copy
import re
import time

import torch
import torch.nn.functional as F

from . import TwinError, fail
from . import lethe_draws
from .params import Param, fill
from .seeds import generator

ATTACK_MAX = 5000
EVAL_CHUNK = 1000
REFERENCES = ("retrain", "finetune", "gradient_ascent", "random_labels")

FORGET = (
    Param("after", "int", "0", 0, 64, help="the learning step the request follows (required)"),
    Param("what", "choice", "class", choices=("class", "task", "samples")),
    Param("classes", "string", ""),
    Param("task", "int", "0", 0, 64),
    Param("fraction", "float", "0.1", 0, 1),
    Param("plugin", "string", ""),
    Param("references", "string", "retrain"),
    Param("retrain", "choice", "sequence", choices=("sequence", "joint")),
    Param("retrain_epochs", "int", "0", 0, 100000),
    Param("finetune_epochs", "int", "1", 1, 100000),
    Param("ascent_epochs", "int", "5", 1, 100000),
    Param("ascent_lr", "float", "0.0001", 0, 10, help="gradient_ascent's lr (0: train.lr)"),
    Param("relearn_loss", "float", "0.1", 0, 100, help="(relearn time: no twin yet)"),
    Param("relearn_max_epochs", "int", "10", 0, 100000, help="(relearn time: no twin yet)"),
)


class Forget:
    """One [forgetN] section, checked."""


def read(ini, num_tasks, methods):
    """The [forgetN] sections of ini in order; methods: {section: values} of the unlearning
    plugins listed in [scenario] plugins."""
    found = sorted(int(s[6:]) for s in ini.sections if re.fullmatch(r"forget[1-9]\d*", s))
    out = []
    for i, n in enumerate(found):
        sec = f"forget{n}"
        if n != i + 1:
            raise TwinError(f"{ini.section_where[sec]}: [{sec}] without [forget{i + 1}]: "
                            "number them from 1 without a gap")
        v = fill(ini, sec, FORGET)
        f = Forget()
        f.section, f.index = sec, i
        for k, val in v.items():
            setattr(f, k, val)
        if not 1 <= f.after <= num_tasks:
            raise TwinError(f"{ini.where(sec, 'after')}: [{sec}] after = {f.after}: give the "
                            f"learning step it follows, 1 to {num_tasks}")
        refs = [r.strip() for r in f.references.split(",") if r.strip()]
        for r in refs:
            if r not in REFERENCES:
                raise TwinError(f"{ini.where(sec, 'references')}: [{sec}] references: '{r}' is "
                                f"not one of {'|'.join(REFERENCES)}")
        f.refs = [r for r in REFERENCES if r in refs]
        if f.plugin and f.plugin not in methods:
            raise TwinError(f"{ini.where(sec, 'plugin')}: [{sec}] plugin '{f.plugin}' is not "
                            "an unlearning plugin listed in [scenario] plugins")
        f.values = methods.get(f.plugin)
        if f.what == "class":
            try:
                f.class_list = [int(c) for c in f.classes.split(",") if c.strip()]
            except ValueError:
                raise TwinError(f"{ini.where(sec, 'classes')}: [{sec}] classes: "
                                f"'{f.classes}' is not a list of integers")
            if not f.class_list:
                raise TwinError(f"{ini.where(sec, 'classes')}: [{sec}] what = class needs "
                                "classes = C1, C2, ...")
        elif not 1 <= f.task <= f.after:
            raise TwinError(f"{ini.where(sec, 'task')}: [{sec}] task = {f.task}: give a task "
                            f"learned by step {f.after}, 1 to {f.after}")
        elif f.what == "samples" and not f.fraction > 0:
            raise TwinError(f"{ini.where(sec, 'fraction')}: [{sec}] fraction must be above 0")
        out.append(f)
    return out


class Rows:
    """Samples of one split: positions and each one's task."""

    def __init__(self, pos, tasks):
        self.pos, self.tasks = pos, tasks

    def __len__(self):
        return len(self.pos)

    def ids(self):
        return (self.tasks << 32) | self.pos


def _cat(parts):
    if not parts:
        return Rows(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
    return Rows(torch.cat([p for p, _ in parts]), torch.cat([t for _, t in parts]))


class Sets:
    """D_f, D_r and D_test of a request (Rows each), and its ids over every task; numbering:
    each training sample of the learned tasks, task by task, as its row in D_r (-1: D_f's)."""


def build_sets(run, f):
    """The request's sets on run's tasks as they are now (earlier requests' samples gone)."""
    chosen = None
    if f.what == "samples":
        t = run.tasks[f.task - 1]
        n = len(t.train)
        if run.lethe_draws:
            chosen = lethe_draws.forget_samples(run.seed, f.index, n, f.fraction)
        else:
            order = torch.randperm(n, generator=generator(run.seed, "forget", f.index,
                                                          "samples"))
            chosen = torch.zeros(n, dtype=torch.bool)
            chosen[order[:int(f.fraction * n + 0.5)]] = True
    forget, retain, test, ids, numbering = [], [], [], [], []
    kept = 0
    for t in run.tasks:
        k = t.index
        if f.what == "class":
            covered = torch.isin(run.train.y[t.train], torch.tensor(f.class_list))
        elif f.what == "task" or k + 1 != f.task:
            covered = torch.full((len(t.train),), k + 1 == f.task)
        else:
            covered = chosen
        tk = torch.full((len(t.train),), k, dtype=torch.int64)
        ids.append((tk[covered] << 32) | t.train[covered])
        if k < f.after:
            forget.append((t.train[covered], tk[covered]))
            retain.append((t.train[~covered], tk[~covered]))
            rows = torch.cumsum((~covered).long(), 0) - 1 + kept
            numbering.append(torch.where(covered, -1, rows))
            kept += int((~covered).sum())
            keep = torch.ones(len(t.test), dtype=torch.bool)
            if f.what == "class":
                keep = ~torch.isin(run.test.y[t.test], torch.tensor(f.class_list))
            test.append((t.test[keep], torch.full((int(keep.sum()),), k, dtype=torch.int64)))
    s = Sets()
    s.forget, s.retain, s.test = _cat(forget), _cat(retain), _cat(test)
    s.ids = torch.cat(ids).sort().values
    s.numbering = torch.cat(numbering) if numbering else torch.zeros(0, dtype=torch.int64)
    return s


def remove(run, ids):
    """The samples of ids leave every task's training list."""
    for t in run.tasks:
        own = ids[(ids >> 32) == t.index] & 0xFFFFFFFF
        t.train = t.train[~torch.isin(t.train, own)]


# ---- measuring ----

def inputs(run, rows, split="train"):
    s = run.train if split == "train" else run.test
    return run.transform(s.x[rows.pos], rows.tasks, train=False), s.y[rows.pos]


def evaluate(run, model, rows, split="train"):
    """Accuracy and each row's -log p(y|x) over its allowed classes (evaluation mode)."""
    if len(rows) == 0:
        return float("nan"), torch.zeros(0, dtype=torch.float64)
    correct, nll = 0, []
    was = model.training
    model.eval()
    with torch.no_grad():
        for at in range(0, len(rows), EVAL_CHUNK):
            part = Rows(rows.pos[at:at + EVAL_CHUNK], rows.tasks[at:at + EVAL_CHUNK])
            x, y = inputs(run, part, split)
            z = run.masked(model(x), part.tasks).double()
            correct += int((z.argmax(1) == y).sum())
            nll.append(-torch.log_softmax(z, 1).gather(1, y[:, None])[:, 0])
    model.train(was)
    return correct / len(rows), torch.cat(nll)


def fit_threshold(scores, member):
    """The threshold t (member when score <= t) classifying (scores, member) best: among
    equally accurate cuts the one calling most rows members; halfway between the scores either
    side of the cut (-inf: every row a non-member, +inf: every row a member)."""
    order = torch.argsort(scores, stable=True)
    s, m = scores[order].tolist(), member[order].tolist()
    n = len(s)
    correct = sum(1 for v in m if not v)
    best, best_at, i = correct, 0, 0
    while i < n:
        j = i
        while j < n and s[j] == s[i]:
            correct += 1 if m[j] else -1
            j += 1
        if correct >= best:
            best, best_at = correct, j
        i = j
    if best_at == 0:
        return float("-inf")
    if best_at == n:
        return float("inf")
    lo, hi = s[best_at - 1], s[best_at]
    return lo if hi == float("inf") else lo + (hi - lo) / 2


def mia_efficacy(nll_r, nll_t, nll_f, gen):
    """The fraction of D_f the threshold attack calls non-members."""
    k = min(len(nll_r), len(nll_t), ATTACK_MAX)
    if k == 0 or len(nll_f) == 0:
        return float("nan")
    r = nll_r[torch.randperm(len(nll_r), generator=gen)[:k]]
    t = nll_t[torch.randperm(len(nll_t), generator=gen)[:k]]
    thr = fit_threshold(torch.cat((r, t)), torch.cat((torch.ones(k, dtype=torch.bool),
                                                       torch.zeros(k, dtype=torch.bool))))
    return float((nll_f > thr).double().mean())


def confidence_efficacy(conf_r, conf_t, conf_f, gen):
    """SalUn's MIA-efficacy (Fan et al. 2024, after Song & Mittal 2021): a classifier of the
    confidence p_y trained with members = k D_r rows and non-members = k test rows (balanced),
    the fraction of D_f it calls non-member. SalUn's code fits an RBF SVC; this one is a logistic
    regression (standardised feature, ridge 1e-4, Newton steps), a threshold on p_y."""
    k = min(len(conf_r), len(conf_t), ATTACK_MAX)
    if k == 0 or len(conf_f) == 0:
        return float("nan")
    r = conf_r[torch.randperm(len(conf_r), generator=gen)[:k]]
    t = conf_t[torch.randperm(len(conf_t), generator=gen)[:k]]
    x = torch.cat((r, t)).double()
    y = torch.cat((torch.ones(k), torch.zeros(k))).double()
    mu, sd = x.mean(), x.std(unbiased=False)
    sd = sd if sd > 0 else torch.tensor(1.0, dtype=torch.float64)
    X = torch.stack(((x - mu) / sd, torch.ones_like(x)), 1)
    w = torch.zeros(2, dtype=torch.float64)
    for _ in range(100):
        p = torch.sigmoid(X @ w)
        g = X.T @ (p - y) + 1e-4 * w
        H = (X * (p * (1 - p))[:, None]).T @ X + 1e-4 * torch.eye(2, dtype=torch.float64)
        step = torch.linalg.solve(H, g)
        w = w - step
        if step.abs().max() < 1e-10:
            break
    score = torch.sigmoid(torch.stack(((conf_f.double() - mu) / sd,
                                       torch.ones(len(conf_f), dtype=torch.float64)), 1) @ w)
    return float((score < 0.5).double().mean())


def measure(run, model, sets, gen, svc_gen=None):
    acc_f, nll_f = evaluate(run, model, sets.forget)
    ra, nll_r = evaluate(run, model, sets.retain)
    ta, nll_t = evaluate(run, model, sets.test, split="test")
    fig = {"ua": 1.0 - acc_f, "ra": ra, "ta": ta, "mia": mia_efficacy(nll_r, nll_t, nll_f, gen)}
    if svc_gen is not None:
        fig["svc_mia"] = {"confidence": confidence_efficacy((-nll_r).exp(), (-nll_t).exp(),
                                                            (-nll_f).exp(), svc_gen)}
    return fig


def gap(fig, ref):
    return sum(abs(fig[k] - ref[k]) for k in ("ua", "ra", "ta", "mia")) / 4


# ---- the references ----

def _sgd(run, model, lr=None):
    return torch.optim.SGD(model.parameters(), lr=lr or run.lr, momentum=run.momentum,
                           weight_decay=run.weight_decay)


def _epochs(run, model, rows, labels, epochs, gen, sign=1.0, lr=None):
    """epochs of SGD over rows (labels overriding the data's) at lr (None: train.lr), a fresh
    shuffle each; sign -1 ascends the CE, stopping at (and restoring) the last finite
    weights."""
    opt = _sgd(run, model, lr)
    model.train()
    prev = copy.deepcopy(model.state_dict())
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=gen)
        for at in range(0, len(rows), run.batch_size):
            pick = order[at:at + run.batch_size]
            part = Rows(rows.pos[pick], rows.tasks[pick])
            x, _ = inputs(run, part)
            loss = sign * run.loss(model(x), labels[pick], part.tasks)
            if not torch.isfinite(loss):
                if sign < 0:
                    model.load_state_dict(prev)
                    return
                raise fail(f"a reference's loss is {float(loss)}; train.lr = {run.lr:g} may be "
                           "too large")
            prev = copy.deepcopy(model.state_dict())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()


def wrong_labels(run, rows, gen, learned):
    """Each row's label replaced by a class drawn uniformly among its allowed ones (task-IL:
    its task's; else the learned tasks') other than its own."""
    seen = run.allowed[:learned].any(0)
    y = run.train.y[rows.pos].clone()
    for i in range(len(rows)):
        allow = run.allowed[rows.tasks[i]] if run.protocol == "task-incremental" else seen
        others = [c for c in allow.nonzero().flatten().tolist() if c != int(y[i])]
        if others:
            y[i] = others[int(torch.randint(len(others), (1,), generator=gen))]
    return y


def _retrain_sequence(run, registry, f, removed, execute_steps):
    from . import protocol
    r, strategies = protocol.prepare(run.scn, registry, quiet=True, data=(run.train, run.test))
    remove(r, removed)
    execute_steps(r, strategies, f.after)
    return r.model


def reference(name, run, before, sets, f, registry, removed, execute_steps):
    gen = generator(run.seed, "forget", f.index, name)
    if name == "retrain" and f.retrain == "sequence":
        return _retrain_sequence(run, registry, f, removed, execute_steps)
    model = copy.deepcopy(before)
    if name == "retrain":
        model.load_state_dict(run.initial_state)
        epochs = f.retrain_epochs or run.epochs * f.after
        _epochs(run, model, sets.retain, run.train.y[sets.retain.pos], epochs, gen)
    elif name == "finetune":
        _epochs(run, model, sets.retain, run.train.y[sets.retain.pos], f.finetune_epochs, gen)
    elif name == "gradient_ascent":
        _epochs(run, model, sets.forget, run.train.y[sets.forget.pos], f.ascent_epochs, gen,
                sign=-1.0, lr=f.ascent_lr)
    else:
        mixed = Rows(torch.cat((sets.forget.pos, sets.retain.pos)),
                     torch.cat((sets.forget.tasks, sets.retain.tasks)))
        y = torch.cat((wrong_labels(run, sets.forget, gen, f.after), run.train.y[sets.retain.pos]))
        _epochs(run, model, mixed, y, f.finetune_epochs, gen)
    return model


class Context:
    """What an unlearning method is handed: the run (model, data, settings, services), the
    frozen model before the request, D_f and D_r, and a seeded stream of its own."""

    def __init__(self, run, sets, f, values, lethe=False):
        """lethe: D_f's order and D_r's rows by lethe's plugin's rule and stream
        (lethe_draws.MethodDraws), for the methods that take them under --lethe-draws."""
        self.run, self.model, self.sets, self.request, self.values = \
            run, run.model, sets, f, values
        self.forget, self.retain = sets.forget, sets.retain
        self.gen = generator(run.seed, "forget", f.index, "method", f.plugin)
        self.lethe = lethe_draws.MethodDraws(run.seed, run.scn.plugin_index[f.plugin],
                                             len(sets.forget), sets.numbering) if lethe else None

    def forget_order(self):
        """A fresh order of D_f for a pass."""
        if self.lethe:
            return self.lethe.forget_order()
        return torch.randperm(len(self.forget), generator=self.gen)

    def rows(self, rows, pick):
        part = Rows(rows.pos[pick], rows.tasks[pick])
        x, y = inputs(self.run, part)
        return x, y, part.tasks

    def draw_retain(self, n):
        """n retained rows drawn uniformly with replacement."""
        if len(self.retain) == 0:
            raise TwinError(f"[{self.request.section}] plugin {self.request.plugin}: D_r is "
                            "empty, and the method trains on it")
        if self.lethe:
            return self.lethe.retain(n)
        return torch.randint(len(self.retain), (n,), generator=self.gen)


def run_request(run, strategies, f, methods, registry, removed, execute_steps, quiet=False):
    """The forget step f on run (after its step f.after): references, the method, the data
    leaving, and the figures, as metrics.json's "unlearning" entry names them."""
    sets = build_sets(run, f)
    if len(sets.forget) == 0:
        raise TwinError(f"[{f.section}] covers no training sample of the tasks learned by step "
                        f"{f.after}")
    removed = torch.cat((removed, sets.ids)).unique()
    before = copy.deepcopy(run.model)
    models, seconds = {}, {}
    for name in f.refs:
        t0 = time.monotonic()
        models[name] = reference(name, run, before, sets, f, registry, removed, execute_steps)
        seconds[name] = time.monotonic() - t0
    t0 = time.monotonic()
    if f.plugin:
        method = methods[f.plugin]
        lethe = run.lethe_draws and getattr(method, "LETHE_DRAWS", False)
        method(f.values).unlearn(Context(run, sets, f, f.values, lethe))
        for p in run.model.parameters():
            if not torch.isfinite(p).all():
                raise fail(f"[{f.section}] {f.plugin} made the parameters NaN or infinite; "
                           "its lr may be too large")
    took = time.monotonic() - t0
    remove(run, sets.ids)
    for s in strategies:
        s.forget(sets.ids)

    def figures(model, secs):
        fig = measure(run, model, sets, generator(run.seed, "forget", f.index, "attack"),
                      generator(run.seed, "forget", f.index, "svc attack"))
        fig["seconds"] = secs
        return fig

    own = figures(run.model, took)
    refs = {name: figures(m, seconds[name]) for name, m in models.items()}
    ret = refs.get("retrain")
    own["gap_to_retrain"] = gap(own, ret) if ret else None
    for name, fig in refs.items():
        fig["gap_to_retrain"] = gap(fig, ret) if ret and name != "retrain" else None
    out = {"section": f.section, "after": f.after, "what": f.what, "plugin": f.plugin or None,
           "forget_samples": len(sets.forget)}
    if f.what == "class":
        out["classes"] = f.class_list
    else:
        out["task"] = f.task
        if f.what == "samples":
            out["fraction"] = f.fraction
    out.update(own)
    out["references"] = refs
    if not quiet:
        print(f"twin: {f.section} after step {f.after}: {len(sets.forget)} samples forgotten"
              f"{' by ' + f.plugin if f.plugin else ''}: UA {own['ua']:.3f} RA {own['ra']:.3f} "
              f"TA {own['ta']:.3f} MIA {own['mia']:.3f}"
              + (f" gap {own['gap_to_retrain']:.4f}" if ret else ""), flush=True,
              file=__import__("sys").stderr)
    return out, removed


def kl_soft(student, teacher, T, mask=None):
    """T^2 KL(p_t || p_s) per row, p = softmax(z / T) over the allowed classes (mask: bool
    (n, C) or None); the classes outside contribute nothing."""
    if mask is not None:
        student = student.masked_fill(~mask, float("-inf"))
        teacher = teacher.masked_fill(~mask, float("-inf"))
    ls, lt = F.log_softmax(student / T, 1), F.log_softmax(teacher / T, 1)
    pt = lt.exp()
    terms = torch.where(pt > 0, pt * (lt - ls), torch.zeros_like(pt))
    return T * T * terms.sum(1)
