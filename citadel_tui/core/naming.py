"""Env key <-> secret name, per store, honouring each store's naming rules.

Collisions and impossible names are found before anything is written: the message says
which keys collide and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from citadel_tui.core.errors import NamingError

ENV_KEY_TAG = "env-key"
"""Tag/label holding the original env key where the store's names cannot (Azure, GCP labels)."""


@dataclass(frozen=True)
class NameRules:
    kind: str
    allowed: re.Pattern[str]
    max_length: int
    case_insensitive: bool = False
    underscore_as: str = "_"
    forbidden_in_key: str = ""
    description: str = ""

    def name_for(self, prefix: str, key: str) -> str:
        """The secret name for an env key, or NamingError if the store cannot hold it."""
        name = prefix + key.replace("_", self.underscore_as)
        bad = sorted({ch for ch in name if not self.allowed.fullmatch(ch)} | set(self.forbidden_in_key) & set(key))
        if bad:
            raise NamingError(
                f"{self.kind}: {key!r} maps to {name!r}, which contains {''.join(bad)!r}; "
                f"allowed: {self.description}"
            )
        if not 1 <= len(name) <= self.max_length:
            raise NamingError(
                f"{self.kind}: {key!r} maps to a name of {len(name)} characters; "
                f"allowed: 1 to {self.max_length}"
            )
        return name

    def key_for(self, prefix: str, name: str, tags: dict[str, str] | None = None) -> str | None:
        """The env key a secret name stands for, or None when it lies outside the prefix."""
        if tags and tags.get(ENV_KEY_TAG):
            return tags[ENV_KEY_TAG]
        if self.case_insensitive:
            if not name.lower().startswith(prefix.lower()):
                return None
        elif not name.startswith(prefix):
            return None
        rest = name[len(prefix):]
        if not rest:
            return None
        return rest.replace(self.underscore_as, "_") if self.underscore_as != "_" else rest

    def same(self, a: str, b: str) -> bool:
        return a.lower() == b.lower() if self.case_insensitive else a == b


RULES: dict[str, NameRules] = {
    "aws": NameRules("aws", re.compile(r"[A-Za-z0-9/_+=.@-]"), 512,
                     description="letters, digits and / _ + = . @ -, 1 to 512 characters"),
    "gcp": NameRules("gcp", re.compile(r"[A-Za-z0-9_-]"), 255,
                     description="letters, digits, _ and -, 1 to 255 characters"),
    "azure": NameRules("azure", re.compile(r"[0-9A-Za-z-]"), 127, case_insensitive=True,
                       underscore_as="-",
                       description="letters, digits and -, 1 to 127 characters, case-insensitive"),
    "vault": NameRules("vault", re.compile(r"[^\x00-\x1f\x7f]"), 512, forbidden_in_key="/",
                       description="one path segment: no '/' in the key, no control characters"),
}


@dataclass(frozen=True)
class Collision:
    name: str
    keys: tuple[str, ...]

    def message(self, kind: str) -> str:
        return f"{kind}: keys {', '.join(self.keys)} would all be stored as {self.name!r}"


def plan_names(kind: str, prefix: str, keys: Iterable[str]) -> dict[str, str]:
    """Map every key to its secret name; raise NamingError listing every impossible name and collision."""
    rules = RULES[kind]
    names: dict[str, str] = {}
    problems: list[str] = []
    for key in dict.fromkeys(keys):
        try:
            names[key] = rules.name_for(prefix, key)
        except NamingError as exc:
            problems.append(str(exc))
    problems.extend(c.message(kind) for c in find_collisions(kind, names))
    if problems:
        raise NamingError("; ".join(problems))
    return names


def find_collisions(kind: str, names: dict[str, str]) -> list[Collision]:
    """Keys whose secret names are the same for this store (Azure compares case-insensitively)."""
    rules = RULES[kind]
    groups: dict[str, list[str]] = {}
    for key, name in names.items():
        groups.setdefault(name.lower() if rules.case_insensitive else name, []).append(key)
    return [Collision(names[keys[0]], tuple(keys)) for keys in groups.values() if len(keys) > 1]
