"""The confirmation dialog every write goes through: one action shown, then an answer.

`y` confirms the action shown, `n` declines it, Escape declines it and every action after it
(nothing is written for a declined action). Typing is needed
for the two stronger answers: "confirm all shown" (the number of actions shown) and a
destructive action (e.g. the exact file name before a .env file is deleted). A wrong text is
refused and the dialog stays open. Callers pass names, facts and fingerprints, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from citadel_tui.core.plan import Action

YES, NO, ALL, STOP = "yes", "no", "all", "stop"


@dataclass(frozen=True)
class Typed:
    """A text the operator must type: the prompt, its judge, and the answer it gives."""

    prompt: str
    accepts: Callable[[str], bool]
    answer: str


def action_lines(action: Action) -> list[str]:
    """Kind, store, the exact target name, then each fact (layout, tags, fingerprint, length...)."""
    width = max((len(name) for name, _ in action.facts), default=6)
    lines = [f"[b]{escape(action.kind)}[/b] in store [b]{escape(action.store)}[/b]",
             f"{'target':<{width}}  [b]{escape(action.target)}[/b]"]
    lines += [f"[$text-muted]{escape(name):<{width}}[/]  {escape(value)}" for name, value in action.facts]
    return lines


def plan_text(plan: Sequence[Action]) -> str:
    """The whole plan as plain text, each action as the dialog would show it: what a dry run shows."""
    blocks = [f"{number}. " + "\n   ".join(Content.from_markup(line).plain for line in action_lines(action))
              for number, action in enumerate(plan, 1)]
    return "\n\n".join(blocks)


class ConfirmScreen(ModalScreen[str]):
    """Dismissed with `yes`, `no`, `stop` (decline the rest) or the typed answer (`yes` or `all`)."""

    BINDINGS = [
        Binding("y", "answer('yes')", "Confirm this one", id="confirm.yes"),
        Binding("n", "answer('no')", "Decline this one", id="confirm.no"),
        Binding("escape", "answer('stop')", "Decline the rest", id="confirm.stop"),
        Binding("tab", "type", "Type to confirm", id="confirm.type"),
    ]

    def __init__(self, title: str, lines: list[str], *, typed: Typed | None = None, single: bool = True) -> None:
        """`single`: whether `y` alone confirms; without it only the typed text does."""
        super().__init__()
        self.title_text, self.lines, self.typed, self.single = title, lines, typed, single

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body"):
            yield Static(f"[b]{escape(self.title_text)}[/b]", id="confirm-title")
            yield Static("\n".join(self.lines), id="confirm-lines")
            yes = "[b]y[/b] confirm this one   " if self.single else ""
            yield Static(f"[$text-muted]{yes}[b]n[/b] decline this one   [b]esc[/b] decline the rest: nothing is written[/]",
                         id="confirm-keys")
            if self.typed is not None:
                yield Static(f"[b]tab[/b] {escape(self.typed.prompt)}", id="confirm-prompt")
                typed = Input(placeholder="type here, then enter", id="confirm-typed")
                typed.can_focus = False  # until tab: `y` and `n` answer at once
                yield typed

    def on_mount(self) -> None:
        if not self.single:
            self.action_type()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer" and parameters == (YES,):
            return self.single
        if action == "type":
            return self.typed is not None
        return True

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    def action_type(self) -> None:
        typed = self.query_one("#confirm-typed", Input)
        typed.can_focus = True
        typed.focus()

    @on(Input.Submitted, "#confirm-typed")
    def _submitted(self, message: Input.Submitted) -> None:
        assert self.typed is not None
        if self.typed.accepts(message.value):
            self.dismiss(self.typed.answer)
            return
        message.input.value = ""
        self.query_one("#confirm-prompt", Static).update(f"[$error]refused:[/] {escape(self.typed.prompt)}")
