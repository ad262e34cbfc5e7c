"""Typed parameters, declared as tables the way lethe's host and plugins declare theirs, so a
section is checked the same way: unknown keys (with the nearest valid one), types, ranges and
choices, each error naming where the value was set."""
import difflib
import math

from . import TwinError

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")


class Param:
    """One key: kind is int, float, bool, choice or string; lo/hi are inclusive bounds."""

    def __init__(self, key, kind, default, lo=None, hi=None, choices=None, help=""):
        self.key, self.kind, self.default = key, kind, default
        self.lo, self.hi, self.choices, self.help = lo, hi, choices, help

    def parse(self, text):
        """The value of text, or ValueError saying why not."""
        text = text.strip()
        if self.kind == "string":
            return text
        if self.kind == "bool":
            if text.lower() in TRUE:
                return True
            if text.lower() in FALSE:
                return False
            raise ValueError(f"'{text}' is not a boolean (true/false, yes/no, on/off, 1/0)")
        if self.kind == "choice":
            if text in self.choices:
                return text
            raise ValueError(f"'{text}' is not one of {'|'.join(self.choices)}")
        try:
            v = int(text, 10) if self.kind == "int" else float(text)
        except ValueError:
            what = "an integer" if self.kind == "int" else "a number"
            raise ValueError(f"'{text}' is not {what}")
        if self.kind == "float" and not math.isfinite(v):
            raise ValueError(f"'{text}' is not a finite number")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise ValueError(f"{text} is outside [{self.lo:g}, {self.hi:g}]")
        return v

    def describe(self):
        if self.kind == "choice":
            what = "one of " + "|".join(self.choices)
        elif self.kind in ("int", "float") and self.lo is not None:
            what = f"{self.kind} in [{self.lo:g}, {self.hi:g}]"
        else:
            what = self.kind
        return f"{self.key:16s} {what}, default {self.default}\n{'':17s}{self.help}"


def nearest(word, options):
    near = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return near[0] if near else None


def fill(ini, section, table, extra_keys=()):
    """The values of section's keys by table (defaults for those not set); extra_keys are
    accepted and left to the caller. Unknown keys are refused with the nearest valid one."""
    known = {p.key: p for p in table}
    for key in ini.keys(section):
        if key in known or key in extra_keys:
            continue
        near = nearest(key, list(known) + list(extra_keys))
        hint = f"; did you mean '{near}'?" if near else ""
        raise TwinError(f"{ini.where(section, key)}: unknown key '{key}' in [{section}]{hint}")
    values = {}
    for p in table:
        text = ini.get(section, p.key)
        try:
            values[p.key] = p.parse(p.default if text is None else text)
        except ValueError as e:
            raise TwinError(f"{ini.where(section, p.key)}: [{section}] {p.key}: {e}")
    return values
