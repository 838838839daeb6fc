"""Citadel's own theme; the stylesheets refer to its colours only through `$variables`."""

from __future__ import annotations

from textual.theme import Theme

CITADEL_THEME = Theme(
    name="citadel",
    primary="#5FA8D3",
    secondary="#8FA3B8",
    accent="#C39BD3",
    foreground="#D8DEE9",
    background="#10161D",
    surface="#161E27",
    panel="#1F2A36",
    success="#7FC98B",
    warning="#E7C06B",
    error="#EF767A",
    dark=True,
)
