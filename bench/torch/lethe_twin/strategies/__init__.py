"""The strategies the twin has, by lethe plugin name: a new one is a file here and a line below
("name": "module:Class"), its class a strategies.base.Strategy."""
import importlib

REGISTRY = {
    "agem": "agem:AGEM",
    "bic": "bic:BiC",
    "der": "der:DER",
    "derpp": "der:DERpp",
    "er_ace": "er_ace:ERACE",
    "ewc": "ewc:EWC",
    "gdumb": "gdumb:GDumb",
    "gem": "gem:GEM",
    "icarl": "icarl:ICaRL",
    "l2": "l2:L2",
    "lwf": "lwf:LwF",
    "mas": "mas:MAS",
    "rehearsal": "rehearsal:Rehearsal",
    "si": "si:SI",
}


class Registry:
    """name -> Strategy class, each module imported when first asked for."""

    def __contains__(self, name):
        return name in REGISTRY

    def __iter__(self):
        return iter(REGISTRY)

    def __getitem__(self, name):
        module, cls = REGISTRY[name].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


registry = Registry()
