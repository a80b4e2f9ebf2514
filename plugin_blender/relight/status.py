"""The status line the panel shows; kept outside the .blend so a failed action changes no scene data."""

from __future__ import annotations

import bpy

from .ui_strings import status_idle

_text = status_idle


def status() -> str:
    return _text


def set_status(text: str) -> None:
    """Show ``text`` in the Relume panel (redraws the 3D views when there is a UI)."""
    global _text
    _text = text
    window_manager = bpy.context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
