"""The INI syntax lethe reads (inih's defaults): [section] lines, key = value (or key: value),
';' and '#' comment lines, ' ;' inline comments; duplicate sections and keys are errors. --set
section.key=value overrides a value or adds it."""
import os

from . import TwinError


class Ini:
    def __init__(self, path):
        self.path = path
        self.sections = {}  # name -> {key: (value, where)}
        self.section_where = {}
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise TwinError(f"{path}: cannot read the scenario: {e.strerror}")
        except UnicodeDecodeError as e:
            raise TwinError(f"{path}: not UTF-8 text: {e.reason} at byte {e.start}")
        section = None
        for n, line in enumerate(lines, 1):
            where = f"{path}:{n}"
            s = line.strip()
            if not s or s[0] in ";#":
                continue
            if s[0] == "[":
                end = s.find("]")
                if end < 0:
                    raise TwinError(f"{where}: a section header without ']'")
                section = s[1:end].strip()
                if section in self.sections:
                    raise TwinError(f"{where}: section [{section}] given twice")
                self.sections[section] = {}
                self.section_where[section] = where
                continue
            cut = min((i for i in (s.find("="), s.find(":")) if i >= 0), default=-1)
            if cut < 0:
                raise TwinError(f"{where}: expected key = value or [section]")
            if section is None:
                raise TwinError(f"{where}: a key before any [section]")
            key, value = s[:cut].strip(), s[cut + 1:]
            for mark in (" ;", "\t;"):
                if mark in value:
                    value = value[:value.index(mark)]
            if key in self.sections[section]:
                raise TwinError(f"{where}: [{section}] {key} given twice")
            self.sections[section][key] = (value.strip(), where)
        self.dir = os.path.dirname(path) or "."

    def set(self, assignment):
        eq = assignment.find("=")
        dot = assignment.find(".", 0, eq if eq >= 0 else None)
        if eq < 0 or dot < 0:
            raise TwinError(f"--set '{assignment}': expected section.key=value")
        section, key = assignment[:dot].strip(), assignment[dot + 1:eq].strip()
        if not section or not key:
            raise TwinError(f"--set '{assignment}': expected section.key=value")
        self.sections.setdefault(section, {})
        self.section_where.setdefault(section, f"--set {section}.{key}")
        self.sections[section][key] = (assignment[eq + 1:].strip(), f"--set {section}.{key}")

    def get(self, section, key):
        entry = self.sections.get(section, {}).get(key)
        return entry[0] if entry else None

    def has(self, section, key):
        return key in self.sections.get(section, {})

    def keys(self, section):
        return list(self.sections.get(section, {}))

    def where(self, section, key):
        """path:line or --set section.key where the key was set, else the file (a default)."""
        entry = self.sections.get(section, {}).get(key)
        return entry[1] if entry else self.path
