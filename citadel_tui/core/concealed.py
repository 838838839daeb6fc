"""A secret value typed into Citadel, with a repr that never shows it.

Textual prints a crash's traceback with the local variables of every frame, and Python's own
reprs end up in logs and debuggers: a value the operator types (a new credential in step 5) is
wrapped at once, so any such view shows `<concealed, N characters>` instead. It is still a str
for everything that uses it (fingerprints, SDK calls).
"""

from __future__ import annotations


class Concealed(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return f"<concealed, {len(self)} characters>"
