"""A one-line text progress bar (`\r` redraws it in a terminal and in a notebook's output)."""

from __future__ import annotations

import sys


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class ProgressBar:
    def __init__(self, total: int, title: str, *, enabled=True, out=None, width: int = 30):
        self.total, self.done, self.width = max(total, 0), 0, width
        self.enabled, self.out = bool(enabled), out or sys.stdout
        if self.enabled:
            print(title, file=self.out)
            self._draw()

    def _draw(self) -> None:
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * self.width)
        self.out.write(f"\r[{bar:<{self.width}}] {100 * frac:5.1f}% {human(self.done)} / {human(self.total)}")
        self.out.flush()

    def advance(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        if self.enabled:
            self._draw()

    def minio_progress(self, size: int):
        """An object for minio's `progress=` protocol (set_meta, update) feeding this bar."""
        bar = self

        class _P:
            def set_meta(self, object_name: str, total_length: int) -> None:
                pass

            def update(self, n: int) -> None:
                bar.advance(n)

        return _P() if self.enabled else None

    def close(self, note: str | None = None) -> None:
        if self.enabled:
            self.done = self.total
            self._draw()
            self.out.write(f"  {note}\n" if note else "\n")
            self.out.flush()
