"""What a Relume_Relight gizmo remembers in its own (saved) knobs.

Hidden knobs ``capture_json`` (the engine's description of the loaded capture) and ``weights_json``
({"capture", "light_ids", "key"}: which lighting the weight knobs were computed for) are saved with the
script, so a reopened script, or a farm render of it, needs no engine; the weights themselves are the
live graph's ``w_<i>`` knobs (see ``graph``).
The ``status`` text knob tells the artist what the gizmo did last, or what went wrong (:class:`Level`). An
error also puts the node into Nuke's own error state: the hidden ``failed`` knob switches the gizmo's output
(``Switch relume_failed``, by expression) to ``Read relume_error``, whose file (the hidden ``error_file``)
does not exist and names the problem. A Read that cannot open its file, its "missing frames" control at
error (the default), shows the error in the Viewer and fails the render (Foundry's user guide, "Loading Image
Sequences"; the Precomp node's identical control: "error - display an error message on any missing
frames"), so the node is red in the DAG, the Viewer says what is wrong, and a farm render of the script
(``nuke -x``) fails instead of writing the plate or an empty image. The next status that is not an error
clears it. Not checked in a real Nuke here (none can be installed): the fake follows those pages.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum

import nuke
from relume_nuke.capture import CaptureInfo, capture_folder
from relume_nuke.host import in_gui

CAPTURE_JSON = "capture_json"
WEIGHTS_JSON = "weights_json"
STATUS = "status"
FAILED = "failed"
ERROR_FILE = "error_file"
ERROR_FOLDER = "relume error"     # under the temp folder; never created, so the error Read never opens a file


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


class Level(Enum):
    """What a status message is: information, a warning (red, the output still good: a light skipped), or an
    error (red, and the node in Nuke's error state: its output cannot be trusted)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def set_status(gizmo, message: str, level: Level = Level.INFO) -> None:
    """Show ``message`` on the gizmo's panel; an error also puts the node into the error state, and any other
    message takes it out."""
    text = message.replace("<", "&lt;").replace(">", "&gt;")
    gizmo[STATUS].setValue(text if level is Level.INFO else f"<font color='#e06c60'>{text}</font>")
    failed = level is Level.ERROR
    gizmo[ERROR_FILE].setValue(error_file(gizmo, message) if failed else "")
    gizmo[FAILED].setValue(failed)


def error_file(gizmo, message: str) -> str:
    """The path the error Read is given: one that never exists, whose name is the node and the problem (what
    Nuke's "can't open" error shows), without characters Nuke reads as folders or frame fields."""
    words = " ".join(message.split())
    for char in '/\\#%:*?"<>|[]{}$':
        words = words.replace(char, " ")
    name = f"{gizmo.name()} - {' '.join(words.split())[:180]}".rstrip(" .")
    return os.path.join(tempfile.gettempdir(), ERROR_FOLDER, name + ".exr").replace("\\", "/")


def report_problem(gizmo, problem: object, popup: bool, title: str = "Relume", level: Level = Level.ERROR) -> None:
    """``problem`` in the gizmo's status at ``level``: an error when the node's output is now wrong (a capture
    that cannot be read, weights not computed), a warning when an action failed and left the output as it was
    (a render or farm job). For what the artist asked for in the GUI (``popup``), also in a message box."""
    set_status(gizmo, str(problem), level)
    if popup and in_gui():
        nuke.message(f"{title}:\n{problem}")
