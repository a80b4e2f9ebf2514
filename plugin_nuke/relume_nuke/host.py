"""The two facts about the running Nuke that the adapter branches on."""

from __future__ import annotations

import nuke


def in_gui() -> bool:
    """True in an interactive Nuke session; False under ``nuke -t`` / ``nuke -x`` (farm, scripts).

    ``nuke.env["gui"]``: see "Getting Information on the NUKE Environment You Are Running",
    https://learn.foundry.com/nuke/developers/151/pythondevguide/getting_started.html
    """
    return bool(nuke.env["gui"])


def in_main_thread(call, *args) -> None:
    """Run ``call(*args)`` in Nuke's main thread (the only one allowed to touch knobs and nodes)."""
    nuke.executeInMainThread(call, args)
