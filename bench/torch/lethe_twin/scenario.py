"""A lethe scenario file as the twin reads it: the keys of lethe's built-in sections
(host/scenario.c, lethe-scenario(5)) and of design17.md's models and CIFAR data, each listed
strategy's section by that strategy's own table. What the twin cannot run (synthetic data,
a plugin it has no twin of) is refused with one line, not skipped; [forgetN] sections are
unlearn.py's."""
import os
import re
import sys

from . import TwinError
from .ini import Ini
from . import unlearn
from .params import Param, fill, nearest

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
TASKS_MAX = 64
CLASSES_MAX = 256
PROTOCOLS = ("class-incremental", "task-incremental", "domain-incremental")

SCENARIO = (
    Param("name", "string", ""),
    Param("protocol", "choice", "class-incremental", choices=PROTOCOLS),
    Param("plugins", "string", ""),
)
DATA = (
    Param("source", "choice", "fashion-mnist",
          choices=("fashion-mnist", "idx", "cifar10", "cifar100", "synthetic")),
    Param("dir", "string", FASHION_MNIST_DIR),
    Param("max_train", "int", "0", 0, 2**32 - 1),
    Param("max_test", "int", "0", 0, 2**32 - 1),
    Param("labels", "choice", "fine", choices=("fine", "coarse")),
    Param("mean", "string", ""),
    Param("std", "string", ""),
    Param("crop", "int", "0", 0, 64),
    Param("flip", "bool", "false"),
)
# lethe's synthetic generator has no twin; its keys are accepted (lethe ignores them for files).
SYNTHETIC_KEYS = ("classes", "dim", "train_per_class", "test_per_class", "spread")
TASKS = (
    Param("split", "int", "0", 0, TASKS_MAX),
    Param("permuted", "int", "0", 0, TASKS_MAX),
    Param("permute_first", "bool", "false"),
)
MODEL = (
    Param("architecture", "choice", "mlp", choices=("mlp", "cnn", "resnet18")),
    Param("hidden", "string", "256,256"),
    Param("width", "int", "64", 1, 4096),
    Param("layers", "string", ""),
    Param("init", "string", "he"),
)
TRAIN = (
    Param("baseline", "choice", "naive", choices=("naive", "joint")),
    Param("optimizer", "choice", "sgd", choices=("sgd",)),
    Param("lr", "float", "0.01", 0, 10),
    Param("momentum", "float", "0", 0, 1),
    Param("weight_decay", "float", "0", 0, 1),
    Param("batch_size", "int", "64", 1, 65536),
    Param("epochs", "int", "1", 1, 10000),
    Param("seed", "int", "1", 0, 2**53),
    Param("threads", "int", "1", 1, 256),  # lethe's BLAS threads; the twin has --threads
    Param("checkpoint_every", "int", "1000", -1, 10**9),  # lethe's; the twin keeps none
)
INITS = ("he", "torch", "xavier")
BUILTIN = ("scenario", "data", "tasks", "model", "train")


class Scenario:
    """Every setting of one run, typed; plugins is [(section, values)] in hook order."""


def _floats(ini, section, key, text):
    if not text:
        return None
    try:
        return [float(t) for t in text.split(",")]
    except ValueError:
        raise TwinError(f"{ini.where(section, key)}: [{section}] {key}: '{text}' is not a "
                        "comma-separated list of numbers")


def _ints(ini, section, key, text, lo, hi):
    out = []
    for item in text.split(","):
        item = item.strip()
        if not re.fullmatch(r"\d+", item) or not lo <= int(item) <= hi:
            raise TwinError(f"{ini.where(section, key)}: [{section}] {key}: '{item}' is not an "
                            f"integer in [{lo}, {hi}]")
        out.append(int(item))
    return out


def _plugin_section(item):
    if "/" not in item and not item.endswith(".so"):
        return item
    base = os.path.basename(item)
    if base.startswith("lib") and len(base) > 3 and base[3] != ".":
        base = base[3:]
    return base.rsplit(".", 1)[0] if "." in base[1:] else base


def _read_tasks(ini, s):
    task_keys = [k for k in ini.keys("tasks") if re.fullmatch(r"task[1-9]\d*", k)]
    v = fill(ini, "tasks", TASKS, extra_keys=task_keys)
    lists = max((int(k[4:]) for k in task_keys), default=0)
    if lists > TASKS_MAX:
        raise TwinError(f"{ini.where('tasks', f'task{lists}')}: at most {TASKS_MAX} tasks")
    for k in range(1, lists + 1):
        if not ini.has("tasks", f"task{k}"):
            raise TwinError(f"{ini.where('tasks', f'task{lists}')}: [tasks] task{lists} given "
                            f"but not task{k}")
    kinds = [k for k, on in (("split", v["split"]), ("permuted", v["permuted"]),
                             ("task1", lists)) if on]
    if not kinds:
        raise TwinError(f"{ini.section_where.get('tasks', ini.path)}: [tasks] needs split = N, "
                        "permuted = N, or task1 = classes ... taskN = classes")
    if len(kinds) > 1:
        raise TwinError(f"{ini.where('tasks', kinds[1])}: [tasks] {kinds[1]} conflicts with "
                        f"{kinds[0]}; give only one of split, permuted or task1..taskN")
    s.permute_first = v["permute_first"]
    s.task_lists = None
    if kinds[0] == "permuted":
        if s.protocol != "domain-incremental":
            raise TwinError(f"{ini.where('tasks', 'permuted')}: [tasks] permuted needs protocol "
                            f"= domain-incremental, but [scenario] protocol is {s.protocol}")
        s.tasks_kind, s.num_tasks = "permuted", v["permuted"]
        return
    if s.protocol == "domain-incremental":
        raise TwinError(f"{ini.where('tasks', kinds[0])}: [tasks] {kinds[0]} gives each task its "
                        "own classes, which needs protocol = class-incremental or "
                        "task-incremental")
    if kinds[0] == "split":
        s.tasks_kind, s.num_tasks = "split", v["split"]
        return
    s.tasks_kind, s.num_tasks, s.task_lists = "lists", lists, []
    owner = {}
    for k in range(1, lists + 1):
        key = f"task{k}"
        classes = _ints(ini, "tasks", key, ini.get("tasks", key), 0, CLASSES_MAX - 1)
        for c in classes:
            if c in owner:
                raise TwinError(f"{ini.where('tasks', key)}: [tasks] {key}: class {c} is "
                                f"already in task{owner[c]}" if owner[c] != k else
                                f"{ini.where('tasks', key)}: [tasks] {key} lists class {c} twice")
            owner[c] = k
        s.task_lists.append(classes)


def _read_model(ini, s):
    v = fill(ini, "model", MODEL)
    s.architecture, s.init, s.width = v["architecture"], v["init"].strip(), v["width"]
    s.init_file = None
    if s.init.endswith(".safetensors"):
        # lethe's init = FILE.safetensors: weights as lethe export writes them (protocol.prepare)
        s.init_file = s.init if os.path.isabs(s.init) else os.path.join(ini.dir, s.init)
    elif s.init not in INITS:
        raise TwinError(f"{ini.where('model', 'init')}: [model] init: '{s.init}' is not one of "
                        f"{', '.join(INITS)} or a FILE.safetensors")
    s.layers = v["layers"].strip() or None
    if s.layers and ini.has("model", "architecture"):
        raise TwinError(f"{ini.where('model', 'layers')}: [model] layers and architecture "
                        "both given; give one")
    arch = "layers" if s.layers else s.architecture
    # The shipped scenarios say hidden = 256,256: --set model.architecture=cnn must still run
    # them, so a key of another architecture is left unused, with a note, not refused.
    for key, owner in (("hidden", "mlp"), ("width", "resnet18")):
        if ini.has("model", key) and arch != owner:
            print(f"cl.py: note: {ini.where('model', key)}: [model] {key} is for architecture "
                  f"= {owner}; unused by {arch}", file=sys.stderr)
    s.hidden = _ints(ini, "model", "hidden", v["hidden"], 1, 65536)


def load(path, overrides=(), registry=None, methods=None):
    """The scenario at path with --set overrides; registry maps plugin names to strategy
    classes, methods to unlearning methods (their PARAMS tables check the plugins' sections);
    s.plugins holds the strategies, s.methods {name: values} the unlearning methods."""
    ini = Ini(path)
    for o in overrides:
        ini.set(o)
    s = Scenario()
    s.path, s.ini = path, ini

    v = fill(ini, "scenario", SCENARIO)
    s.protocol = v["protocol"]
    name = v["name"] or os.path.basename(path).removesuffix(".ini")
    s.name = name
    s.plugins = []
    sections = []
    for item in (t.strip() for t in v["plugins"].split(",")):
        if not item:
            continue
        section = _plugin_section(item)
        if section in sections:
            raise TwinError(f"{ini.where('scenario', 'plugins')}: [scenario] plugins: "
                            f"'{section}' is listed twice")
        if registry is not None and section not in registry and \
                (methods is None or section not in methods):
            raise TwinError(f"{ini.where('scenario', 'plugins')}: plugin '{section}' has no "
                            f"twin yet (the twin has: {', '.join(sorted(list(registry) + list(methods or ())))})")
        sections.append(section)

    for sec in ini.sections:
        if sec in BUILTIN or sec in sections:
            continue
        if re.fullmatch(r"forget[1-9]\d*", sec):
            continue
        near = nearest(sec, BUILTIN + tuple(sections))
        hint = (f"; did you mean [{near}]?" if near else
                "; a plugin's section needs the plugin listed in [scenario] plugins")
        raise TwinError(f"{ini.section_where[sec]}: unknown section [{sec}]{hint}")

    t = fill(ini, "train", TRAIN)
    if t["lr"] <= 0:
        raise TwinError(f"{ini.where('train', 'lr')}: [train] lr must be above 0")
    if t["momentum"] >= 1:
        raise TwinError(f"{ini.where('train', 'momentum')}: [train] momentum must be below 1")
    for k in ("baseline", "lr", "momentum", "weight_decay", "batch_size", "epochs", "seed"):
        setattr(s, k, t[k])

    d = fill(ini, "data", DATA, extra_keys=SYNTHETIC_KEYS)
    if d["source"] == "synthetic":
        raise TwinError(f"{ini.where('data', 'source')}: [data] source = synthetic has no twin "
                        "(lethe's generator); use fashion-mnist, idx, cifar10 or cifar100")
    s.source = d["source"]
    s.data_dir = d["dir"] if os.path.isabs(d["dir"]) else os.path.join(ini.dir, d["dir"])
    s.max_train, s.max_test = d["max_train"], d["max_test"]
    s.labels, s.crop, s.flip = d["labels"], d["crop"], d["flip"]
    s.mean = _floats(ini, "data", "mean", d["mean"])
    s.std = _floats(ini, "data", "std", d["std"])
    if (s.mean is None) != (s.std is None):
        key = "mean" if s.mean is not None else "std"
        raise TwinError(f"{ini.where('data', key)}: [data] mean and std go together")
    if s.std is not None and any(x <= 0 for x in s.std):
        raise TwinError(f"{ini.where('data', 'std')}: [data] std must be above 0")

    _read_model(ini, s)
    _read_tasks(ini, s)

    s.methods, s.methods_registry = {}, methods
    s.plugin_index = {section: i for i, section in enumerate(sections)}  # lethe's streams
    for section in sections:
        if methods is not None and section in methods:
            s.methods[section] = fill(ini, section, methods[section].PARAMS)
            continue
        table = registry[section].PARAMS if registry is not None else ()
        s.plugins.append((section, fill(ini, section, table)))
    s.forgets = unlearn.read(ini, s.num_tasks, s.methods)
    return s
