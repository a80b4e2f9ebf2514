"""The Nuke step: a marked block appended to ``~/.nuke/init.py`` adding Relume's plugin and gizmo
folders, and its exact removal. The artist's own lines are never rewritten."""

from __future__ import annotations

import os
from pathlib import Path

from relume_install.errors import InstallError
from relume_install.journal import Journal
from relume_install.platform_paths import nuke_home
from relume_install.steps import Setup, Step, digest, note

MARK_BEGIN = "# >>> relume >>>"
MARK_END = "# <<< relume <<<"


def nuke_block(folders: list[Path]) -> str:
    """The lines appended to ~/.nuke/init.py (LF newlines; converted to the file's own style)."""
    lines = [MARK_BEGIN, "# Added by Relume's install.py; `python install.py --uninstall` removes this block.",
             "import nuke"]
    lines += [f"nuke.pluginAddPath({str(folder)!r})" for folder in folders]
    return "\n".join([*lines, MARK_END]) + "\n"


def append_block(journal: Journal, init: Path, block: str, what: str) -> dict:
    """Append ``block`` to ``init`` in the file's newline style (after a newline if it lacks a final one).

    Returns the ``block`` record item: the exact text added and whether the file was created.
    """
    old = init.read_bytes() if init.exists() else None
    newline = "\r\n" if old and b"\r\n" in old else "\n"
    added = block.replace("\n", newline)
    if old and not old.endswith(b"\n"):
        added = newline + added
    journal.edit(init, (old or b"") + added.encode("utf-8"), f"append the Relume block to {init} ({what})")
    return {"type": "block", "path": str(init), "text": added, "created": old is None}


def remove_block(journal: Journal, item: dict) -> None:
    """Cut exactly the appended bytes out of the file (deleting it if we created it and it is now empty)."""
    path = Path(item["path"])
    block = item["text"].encode("utf-8")
    content = path.read_bytes() if path.is_file() else b""
    at = content.rfind(block)
    if at < 0:
        journal.say(f"warning: the Relume block in {path} was changed by hand; left in place, remove it yourself")
        return
    rest = content[:at] + content[at + len(block):]
    journal.edit(path, None if item["created"] and not rest else rest, f"remove the Relume block from {path}")


def plan_nuke(s: Setup) -> list[Step]:
    """The step adding this checkout's ``plugin_nuke/`` (and ``gizmos/``) to Nuke (none when skipped or not found)."""
    plugin, gizmos = s.repo / "plugin_nuke", s.repo / "gizmos"
    if s.options.no_nuke:
        note("Nuke: skipped (--no-nuke)")
        return []
    if not any(plugin.glob("*.py")):
        note("Nuke: this checkout has no plugin_nuke/*.py yet; skipped")
        return []
    folder = Path(nuke_home(s.platform, s.env, s.home))
    nuke_path = [p for p in s.env.get("NUKE_PATH", "").split(os.pathsep) if p]
    if not folder.is_dir() and not nuke_path:
        note(f"Nuke not found (no {folder} folder and NUKE_PATH unset); skipped. Start Nuke once, then re-run")
        return []
    if nuke_path:
        note(f"NUKE_PATH folders are left alone ({os.pathsep.join(nuke_path)}); Relume goes into {folder / 'init.py'}")
    init = folder / "init.py"
    plugin_folders = [plugin, *([gizmos] if gizmos.is_dir() else [])]
    block = nuke_block(plugin_folders)
    key = f"nuke:{init}"
    text = init.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n") if init.is_file() else ""
    if not s.owns(key) and MARK_BEGIN in text:
        if block in text:
            note(f"{init} already has this Relume block (not added by this installer); left as is")
            return []
        raise InstallError(init, "already has a Relume block that this installer did not add; delete the lines "
                                 f"from '{MARK_BEGIN}' to '{MARK_END}', then re-run")

    def apply(journal: Journal) -> list[dict]:
        what = f"nuke.pluginAddPath of {', '.join(map(str, plugin_folders))}"
        return [*journal.mkdirs(folder), append_block(journal, init, block, what)]

    return [Step(key, f"Nuke plugin path in {init}", digest(block), apply, hint="Nuke: restart it; the Relume menu appears.")]
