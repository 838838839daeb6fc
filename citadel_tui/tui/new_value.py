"""The one place a secret value is typed into Citadel: a new credential for a rotation by hand.

The input is masked and never echoed, logged or kept by the screen: it is handed to the caller on
enter, wrapped so that no repr (a crash traceback's locals) shows it, and the field is cleared.
Escape clears the field and hands back nothing.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from citadel_tui.core.concealed import Concealed


class NewValueScreen(ModalScreen[str | None]):
    """Dismissed with the value typed or pasted (Concealed), or None when the operator cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel: nothing is planned", id="value.cancel")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text, self.lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical(id="value-body"):
            yield Static(f"[b]{escape(self.title_text)}[/b]", id="value-title")
            yield Static(escape("\n".join(self.lines)), id="value-lines")
            yield Static("[$text-muted][b]enter[/b] plan it (shown and confirmed before anything is written)   "
                         "[b]esc[/b] cancel[/]", id="value-keys")
            yield Input(password=True, placeholder="the new value (masked)", id="value-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_cancel(self) -> None:
        self.query_one(Input).value = ""
        self.dismiss(None)

    @on(Input.Submitted, "#value-input")
    def _submitted(self, message: Input.Submitted) -> None:
        if not message.value.strip():
            self.query_one("#value-keys", Static).update("[$error]empty:[/] paste the new value, or esc to cancel")
            return
        value, message.input.value = Concealed(message.value), ""
        self.dismiss(value)
