"""A stdlib progress bar for downloads (the installer runs before tqdm is installed)."""

from __future__ import annotations

import sys


def human_size(size: int) -> str:
    """``size`` bytes as MB (from 100 kB up) or kB, one decimal."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, printed once otherwise).

    ``total`` and ``done`` are in bytes.
    """

    WIDTH = 30

    def __init__(self, label: str, total: int, done: int = 0) -> None:
        self.label, self.total, self.done = label, max(total, 1), done
        self._live = sys.stderr.isatty()
        self._shown = -1

    def advance(self, n: int) -> None:
        """Count ``n`` more bytes done."""
        self.done += n
        percent = min(100, 100 * self.done // self.total)
        if self._live and percent != self._shown:
            self._shown = percent
            self._draw("\r")

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw("\r" if self._live else "")
        sys.stderr.write("\n")

    def _draw(self, prefix: str) -> None:
        filled = min(self.WIDTH, self.WIDTH * self.done // self.total)
        percent = min(100, 100 * self.done // self.total)
        sys.stderr.write(f"{prefix}    {self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}% "
                         f"of {human_size(self.total)}")
        sys.stderr.flush()
