"""What a Relume_Relight gizmo remembers in its own (saved) knobs.

Hidden knobs ``capture_json`` (the engine's description of the loaded capture) and ``weights_json``
({"capture", "light_ids", "key"}: which lighting the weight knobs were computed for) are saved with the
script, so a reopened script, or a farm render of it, needs no engine; the weights themselves are the
live graph's ``w_<i>`` knobs (see ``graph``).
The ``status`` text knob tells the artist what the gizmo did last (or what went wrong).
"""

from __future__ import annotations

import json

import nuke
from relume_nuke.capture import CaptureInfo, capture_folder
from relume_nuke.host import in_gui

CAPTURE_JSON = "capture_json"
WEIGHTS_JSON = "weights_json"
STATUS = "status"


def capture_knob(gizmo) -> str:
    """The capture folder the artist chose (TCL expressions in the file knob expanded)."""
    return capture_folder(gizmo["capture"].evaluate() or "")


def stored_capture(gizmo) -> CaptureInfo | None:
    """The description saved for the capture currently chosen, or None if it is for another one."""
    text = gizmo[CAPTURE_JSON].value()
    if not text:
        return None
    info = CaptureInfo.from_dict(json.loads(text))
    return info if capture_folder(info.folder) == capture_knob(gizmo) else None


def store_capture(gizmo, info: CaptureInfo | None) -> None:
    gizmo[CAPTURE_JSON].setValue(info.to_json() if info else "")


def stored_weights(gizmo, info: CaptureInfo) -> dict | None:
    """The saved weights record if it belongs to ``info`` (same folder and stage light ids)."""
    text = gizmo[WEIGHTS_JSON].value()
    if not text:
        return None
    data = json.loads(text)
    same = capture_folder(data.get("capture", "")) == capture_folder(info.folder)
    return data if same and tuple(data.get("light_ids", ())) == info.light_ids else None


def store_weights(gizmo, data: dict | None) -> None:
    gizmo[WEIGHTS_JSON].setValue(json.dumps(data) if data else "")


def set_status(gizmo, message: str, problem: bool = False) -> None:
    """Show ``message`` on the gizmo's panel (red when it is a problem)."""
    text = message.replace("<", "&lt;").replace(">", "&gt;")
    gizmo[STATUS].setValue(f"<font color='#e06c60'>{text}</font>" if problem else text)


def report_problem(gizmo, problem: object, popup: bool, title: str = "Relume") -> None:
    """``problem`` in the gizmo's status (red) and, for what the artist asked for in the GUI (``popup``), in a
    message box headed ``title``."""
    set_status(gizmo, str(problem), problem=True)
    if popup and in_gui():
        nuke.message(f"{title}:\n{problem}")
