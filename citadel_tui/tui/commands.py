"""Every dashboard action in the command palette, named and explained."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from citadel_tui.tui.app import CitadelApp


class CitadelCommands(Provider):
    """The app lists its commands (`CitadelApp.commands()`); this only searches them."""

    async def discover(self) -> Hits:
        for name, help_text, callback in cast("CitadelApp", self.app).commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in cast("CitadelApp", self.app).commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
