"""What the adapter needs from the running Nuke itself: GUI or not, the main thread, undo steps, and
the site's path remapping."""

from __future__ import annotations

import contextlib

import nuke


def in_gui() -> bool:
    """True in an interactive Nuke session; False under ``nuke -t`` / ``nuke -x`` (farm, scripts).

    ``nuke.env["gui"]``: see "Getting Information on the NUKE Environment You Are Running",
    https://learn.foundry.com/nuke/developers/151/pythondevguide/getting_started.html
    """
    return bool(nuke.env["gui"])


def os_path(path: str) -> str:
    """``path`` as this machine's operating system names it: Nuke's filename filters applied
    (``nuke.addFilenameFilter``: "modify filenames before Nuke passes them to the operating system",
    https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.addFilenameFilter.html;
    ``nuke.callbacks.filenameFilter`` runs them, as the Python Developer's Guide's createWriteDir does).

    Scripts keep the paths as written (a studio's canonical paths, which Nuke's own Reads filter when they
    open them); every path the adapter opens, tests or hands to the engine passes through here first."""
    return nuke.callbacks.filenameFilter(path) if path else path


def in_main_thread(call, *args) -> None:
    """Run ``call(*args)`` in Nuke's main thread (the only one allowed to touch knobs and nodes)."""
    nuke.executeInMainThread(call, args)


@contextlib.contextmanager
def undo_step(name: str):
    """Group every knob change made inside into one undo step called ``name`` (nuke.Undo: begin "a new
    user-visible group of undo actions", end "complete current undo set and add it to the undo list",
    https://learn.foundry.com/nuke/developers/151/pythondevguide/_autosummary/nuke.Undo.html)."""
    undo = nuke.Undo()
    undo.begin(name)
    try:
        yield
    finally:
        undo.end()
