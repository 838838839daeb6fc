"""The side-by-side table: the .env on the left, the store on the right, aligned like a diff.

A Line API widget: it renders only the lines on screen from precomputed `ViewRow` cells with
fixed column widths, so 50,000 rows cost the same per frame as 50. The header line stays put.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from citadel_tui.tui.rows import COLUMN_INDEX, COLUMNS, SEVERITY, Column, ViewRow

SEPARATOR = " "
DIVIDER = " │ "


class DiffTable(ScrollView, can_focus=True):
    """Rows of the current view; posts `Highlighted` when the cursor moves, `SortClicked` on
    a header click. The app owns what the rows are and how they are sorted."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "jump(0)", "First row", show=False, id="table.first"),
        Binding("end", "jump(-1)", "Last row", show=False, id="table.last"),
    ]
    COMPONENT_CLASSES = {
        "diff-table--header", "diff-table--sorted", "diff-table--cursor", "diff-table--void",
        "diff-table--divider", "diff-table--empty",
        "status--bad", "status--warn", "status--ok", "status--info", "status--muted",
    }

    class Highlighted(Message):
        def __init__(self, view: ViewRow | None) -> None:
            super().__init__()
            self.view = view

    class SortClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[ViewRow] = []
        self.cursor = 0
        self.show_store = True
        self.sort = ("key", False)
        self.empty_text = "no rows"
        self._widths: tuple[int, ...] = ()
        self._layout_width = -1

    # -- attributes down ---------------------------------------------------------------------

    def show(self, rows: list[ViewRow], *, show_store: bool, sort: tuple[str, bool], empty_text: str) -> None:
        """Replace the rows; the cursor stays on the same secret when it is still shown."""
        current = self.highlighted
        self.rows, self.show_store, self.sort, self.empty_text = rows, show_store, sort, empty_text
        self._layout_width = -1
        if current is not None:
            same = next((i for i, v in enumerate(rows) if v.row is current.row), None)
            self.cursor = same if same is not None else min(self.cursor, max(len(rows) - 1, 0))
        else:
            self.cursor = 0
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows) + 1)
        self._follow_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.highlighted))

    @property
    def highlighted(self) -> ViewRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def columns(self) -> list[Column]:
        """The columns shown: the store column only when several stores are, and the
        droppable ones only when the screen is wide enough for them."""
        columns = [c for c in COLUMNS if self.show_store or c.id != "store"]
        width = self.scrollable_content_region.width
        for column in sorted((c for c in columns if c.drop), key=lambda c: c.drop):
            if _needed(columns) <= width:
                break
            columns.remove(column)
        return columns

    # -- cursor ------------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            self.cursor = index
            self._follow_cursor()
            self.refresh()
            self.post_message(self.Highlighted(self.highlighted))

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, index: int) -> None:
        self.move_to(index if index >= 0 else len(self.rows) - 1)

    def _follow_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.SortClicked(column.id))
        else:
            self.move_to(int(self.scroll_y) + event.y - 1)

    def _column_at(self, x: int) -> Column | None:
        for column, start, width in self._spans():
            if start <= x < start + width:
                return column
        return None

    # -- rendering ---------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._layout_width = -1
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)

    def _spans(self) -> list[tuple[Column, int, int]]:
        """(column, x, width) of every shown column at the current width."""
        width = self.scrollable_content_region.width
        columns = self.columns
        if width != self._layout_width:
            self._widths = _fit(columns, width)
            self._layout_width = width
        spans, x = [], 0
        for column, w in zip(columns, self._widths):
            x += len(DIVIDER) if column.side == "gutter" or _after_gutter(columns, column) else (len(SEPARATOR) if x else 0)
            spans.append((column, x, w))
            x += w
        return spans

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._header(width, base)
        index = int(self.scroll_y) + y - 1
        if not self.rows:
            text = self.empty_text if y == 2 else ""
            style = base + self.get_component_rich_style("diff-table--empty")
            return Strip([Segment(set_cell_size("  " + text, width), style)], width)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row_style = base + (self.get_component_rich_style("diff-table--cursor") if index == self.cursor else Style())
        return self._row(self.rows[index], width, row_style)

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("diff-table--header")
        sorted_style = style + self.get_component_rich_style("diff-table--sorted")
        column_id, reverse = self.sort
        cells = []
        for column, _, w in self._spans():
            title = column.title + ((" ▼" if reverse else " ▲") if column.id == column_id else "")
            cells.append((set_cell_size(title, w), sorted_style if column.id == column_id else style))
        return self._assemble(cells, width, style)

    def _row(self, view: ViewRow, width: int, style: Style) -> Strip:
        void = style + self.get_component_rich_style("diff-table--void")
        cells: list[tuple[str, Style] | list[tuple[str, Style]]] = []
        has_left, has_right = bool(view.row.env_file), view.row.secret is not None
        for column, _, w in self._spans():
            text = view.cells[COLUMN_INDEX[column.id]]
            if column.id == "pair":
                cells.append((_clip(text, w), style + self._status_style(text)))
            elif column.id == "flags":
                cells.append(self._flags(text, w, style))
            elif column.side == "left" and not has_left or column.side == "right" and not has_right and column.id != "store":
                cells.append((" " * w, void))
            else:
                cells.append((_clip(text, w), style))
        return self._assemble(cells, width, style)

    def _flags(self, text: str, width: int, style: Style) -> list[tuple[str, Style]]:
        parts: list[tuple[str, Style]] = []
        used = 0
        for status in text.split():
            word = ("" if not parts else " ") + status
            if used + cell_len(word) > width:
                break
            parts.append((word, style + self._status_style(status)))
            used += cell_len(word)
        parts.append((" " * (width - used), style))
        return parts

    def _status_style(self, status: str) -> Style:
        return self.get_component_rich_style(f"status--{SEVERITY[status]}")

    def _assemble(self, cells: list, width: int, style: Style) -> Strip:
        divider = style + self.get_component_rich_style("diff-table--divider")
        segments: list[Segment] = []
        columns = self.columns
        for i, (column, cell) in enumerate(zip(columns, cells)):
            if column.side == "gutter" or _after_gutter(columns, column):
                segments.append(Segment(DIVIDER, divider))
            elif i:
                segments.append(Segment(SEPARATOR, style))
            parts = cell if isinstance(cell, list) else [cell]
            segments.extend(Segment(text, part_style) for text, part_style in parts)
        used = sum(cell_len(s.text) for s in segments)
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments).crop(0, width)


def _clip(text: str, width: int) -> str:
    """`text` in exactly `width` cells, with an ellipsis when it had to be cut."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def _after_gutter(columns: list[Column], column: Column) -> bool:
    i = columns.index(column)
    return i > 0 and columns[i - 1].side == "gutter"


def _needed(columns: list[Column]) -> int:
    gaps = sum(len(DIVIDER) if c.side == "gutter" or _after_gutter(columns, c) else len(SEPARATOR) for c in columns[1:])
    return sum(c.width for c in columns) + gaps


def _fit(columns: list[Column], width: int) -> tuple[int, ...]:
    """Fixed widths as declared; what is left is shared by the flexible columns."""
    flex = [c for c in columns if c.flex]
    spare = max(0, width - _needed(columns))
    share, extra = divmod(spare, len(flex))
    widths = []
    for column in columns:
        w = column.width
        if column.flex:
            w += share + (1 if extra > 0 else 0)
            extra -= 1
        widths.append(w)
    return tuple(widths)
