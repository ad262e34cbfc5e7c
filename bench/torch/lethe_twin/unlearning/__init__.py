"""The unlearning methods the twin has, by lethe plugin name ("name": "module:Class"). A method
is listed in [scenario] plugins like a strategy, named by a [forgetN] section's plugin key, and
called once per request with an unlearn.Context; it has no training hooks."""
import importlib

REGISTRY = {
    "salun": "salun:SalUn",
    "scrub": "scrub:SCRUB",
}


class Registry:
    """name -> method class, each module imported when first asked for."""

    def __contains__(self, name):
        return name in REGISTRY

    def __iter__(self):
        return iter(REGISTRY)

    def __getitem__(self, name):
        module, cls = REGISTRY[name].split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


methods = Registry()
