"""The help screen (built from the live bindings), the rotation/age screen and the document viewer."""

from __future__ import annotations

from datetime import datetime

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from citadel_tui.core.model import Inventory
from citadel_tui.tui.stats import age_histogram, bar, rotation_outlook

BAR_WIDTH = 40


class HelpScreen(ModalScreen[None]):
    """Every key the dashboard answers to right now, as (keys, description) pairs."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close help", id="help.close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.keys), default=4)
        lines = [f"[b]{escape(k):<{width}}[/b]  {escape(d)}" for k, d in self.keys]
        text = "\n".join(lines) + "\n\n[$text-muted]ctrl+p opens the command palette: every action by name.[/]"
        with VerticalScroll(id="help-body"):
            yield Static("[b]Citadel keys[/b]\n", id="help-title")
            yield Static(text, id="help-keys")


class RotationScreen(Screen[None]):
    """What falls due in the next twelve weeks, and how old each store's secrets are."""

    BINDINGS = [Binding("escape,v,q", "app.pop_screen", "Back to the table", id="rotation.close")]

    def __init__(self, inventories: list[Inventory], now: datetime) -> None:
        super().__init__()
        self.inventories = inventories
        self.now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="rotation-body"):
            yield Static(self._outlook(), id="rotation-outlook")
            yield Static(self._ages(), id="rotation-ages")
        yield Footer()

    def _outlook(self) -> str:
        outlook = rotation_outlook(self.inventories, self.now)
        largest = max((b.count for b in outlook.weeks), default=0)
        lines = [f"[b]Rotations due, next 12 weeks[/b]  (from {self.now:%Y-%m-%d})", ""]
        lines.append(f"[$error]overdue        {outlook.overdue:>4}[/]")
        for bucket in outlook.weeks:
            lines.append(f"{bucket.label}  {bucket.count:>4}  [$primary]{bar(bucket.count, largest, BAR_WIDTH)}[/]")
        lines.append(f"[$text-muted]no rotation date: {outlook.unscheduled}[/]")
        return "\n".join(lines)

    def _ages(self) -> str:
        lines = ["", "[b]Age of the current value, per store[/b]"]
        for inventory in self.inventories:
            buckets = age_histogram(inventory, self.now)
            largest = max((b.count for b in buckets), default=0)
            lines.append(f"\n[b]{escape(inventory.source)}[/b] ({len(inventory.secrets)} secrets)")
            for bucket in buckets:
                lines.append(f"  {bucket.label:<9} {bucket.count:>5}  [$accent]{bar(bucket.count, largest, BAR_WIDTH)}[/]")
        if len(lines) == 2:
            lines.append("[$text-muted]no store loaded yet[/]")
        return "\n".join(lines)


class TextScreen(ModalScreen[None]):
    """A generated document (reading code, policy, runbook, instructions) to read before using it.
    Callers pass documents built from names and paths only: never a value."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="text.close")]

    def __init__(self, title: str, text: str, lexer: str = "text") -> None:
        super().__init__()
        self.title_text, self.text, self.lexer = title, text, lexer

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-body"):
            yield Static(f"[b]{escape(self.title_text)}[/b]  [$text-muted]esc closes[/]", id="text-title")
            # highlight() colours the tokens only: the dialog's own background shows through
            yield Static(Syntax(self.text, self.lexer, theme="ansi_dark").highlight(self.text), id="text-content")
