"""The sale's lines as a scrolling list of fixed-width rows, each row's strip cached.

A DataTable keys every cached cell on a table-wide update count, so any new
or changed line re-renders every visible cell through Rich: the biggest part
of a scan's frame. Here a row is rendered once per (cells, selected, stripe).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class CartView(ScrollView, can_focus=False):
    DEFAULT_CSS = """
    CartView { height: 1fr; }
    CartView > .cart--header { text-style: bold; background: $panel; }
    CartView > .cart--odd { background: $surface-lighten-1; }
    CartView > .cart--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    """
    COMPONENT_CLASSES = {"cart--header", "cart--odd", "cart--cursor"}

    def __init__(self, columns: list[tuple[str, int]] | None = None, **kw) -> None:  # noqa: ANN003
        super().__init__(**kw)
        self.columns = columns or []
        self.rows: list[tuple[str, ...]] = []
        self.cursor_row = 0
        self._strips: dict[tuple, Strip] = {}

    def _text(self, cells: tuple[str, ...]) -> str:
        return "".join(f" {c[:w]:<{w}} " for (_, w), c in zip(self.columns, cells, strict=True))

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, row: int) -> tuple[str, ...]:
        return self.rows[row]

    def show(self, rows: list[tuple[str, ...]], cursor: int) -> None:
        old, old_cursor = self.rows, self.cursor_row
        self.rows, self.cursor_row = rows, cursor
        size = Size(sum(w + 2 for _, w in self.columns), len(rows) + 1)
        if (size.height > self.size.height) == (self.virtual_size.height > self.size.height):
            # No scrollbar comes or goes: a new virtual size lays out nothing, and a layout would put the
            # line in a later frame than the rest of the scan (the screen learns of it a message later).
            self.set_reactive(CartView.virtual_size, size)
            if self.show_vertical_scrollbar:
                self.vertical_scrollbar.window_virtual_size = size.height
        else:
            self.virtual_size = size
        top = self.scroll_offset.y
        body = max(self.size.height - 1, 1)
        if cursor < top:
            self.scroll_to(y=cursor, animate=False, immediate=True)
        elif cursor >= top + body:
            self.scroll_to(y=cursor - body + 1, animate=False, immediate=True)
        if self.scroll_offset.y != top or len(old) != len(rows):
            self.refresh()
            return
        width = self.size.width
        for i in {i for i in range(len(rows)) if i >= len(old) or old[i] != rows[i]} | {old_cursor, cursor}:
            y = i - self.scroll_offset.y + 1
            if 1 <= y < self.size.height:
                self.refresh(Region(0, y, width, 1))

    def move_cursor(self, row: int) -> None:
        self.show(self.rows, max(0, min(row, len(self.rows) - 1)))

    def _strip(self, text: str, style: Style, width: int) -> Strip:
        key = (text, style, width)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 4096:
                self._strips.clear()
            strip = self._strips[key] = Strip([Segment(text, style)]).crop_extend(0, width, style)
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return self._strip(self._text(tuple(label for label, _ in self.columns)),
                               base + self.get_component_rich_style("cart--header"), width)
        i = y - 1 + self.scroll_offset.y
        if i >= len(self.rows):
            return Strip.blank(width, base)
        part = "cart--cursor" if i == self.cursor_row else "cart--odd" if i % 2 else ""
        style = base + self.get_component_rich_style(part) if part else base
        return self._strip(self._text(self.rows[i]), style, width)
