"""Running a plan: show it, ask, carry out the steps that changed through a journal, record them,
and roll the whole run back on any failure; uninstall takes the recorded items back."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from relume_install.assets import plan_assets
from relume_install.blender import plan_blender, remove_with_blender
from relume_install.download import Downloader
from relume_install.engine_env import plan_engine
from relume_install.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InstallError, UsageError
from relume_install.journal import Journal
from relume_install.nuke import plan_nuke, remove_block
from relume_install.plugin_config import plan_config
from relume_install.record import items_intact, save_record
from relume_install.signals import Terminated, shielded
from relume_install.steps import Setup, Step


def confirm(s: Setup, preview: Callable[[Journal], None], question: str) -> None:
    """Show the plan and ask, unless --yes; without a terminal --yes is required."""
    if s.options.yes or s.options.dry_run:
        return
    if not sys.stdin.isatty():
        raise UsageError("--yes", "no terminal to confirm with; pass --yes for unattended installs")
    print("Plan:")
    preview(Journal(dry_run=True))
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise InstallError("install.py", "cancelled; nothing was changed")


def transact(journal: Journal, work: Callable[[], None]) -> int:
    """Run ``work``; on any failure undo everything it did and return the exit code."""
    try:
        work()
        if not journal.dry_run:
            journal.commit()
        return EXIT_OK
    except InstallError as exc:
        message, code = str(exc), exc.code
    except Terminated as exc:
        message, code = f"terminated ({exc})", 128 + exc.signum
    except KeyboardInterrupt:
        message, code = "interrupted", EXIT_INTERRUPTED
    except OSError as exc:
        message, code = (f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)), EXIT_FAILED
    print(f"error: {message}", file=sys.stderr)
    with shielded():                 # a second Ctrl-C, SIGTERM or SIGHUP must not stop the rollback
        journal.rollback()
    print("Nothing from this run was kept (partial downloads stay in the download cache for resuming).", file=sys.stderr)
    return code


def carry_out(s: Setup, work: Callable[[Journal], None], preview: Callable[[Journal], None], question: str,
              done: str) -> int:
    """Confirm with ``preview``, then run ``work`` in one transaction; the exit code."""
    confirm(s, preview, question)
    journal = Journal(s.options.dry_run)
    code = transact(journal, lambda: work(journal))
    if code == EXIT_OK:
        print("Dry run finished: nothing was changed." if s.options.dry_run else done)
    return code


def undo_items(journal: Journal, items: list[dict]) -> None:
    """Take back a step's recorded items, newest first; Blender's own remove command runs last."""
    for item in reversed(items):
        path = Path(item.get("path", ""))
        if item["type"] == "dir":
            journal.rmdir_if_empty(path)
        elif item["type"] == "path" and journal.exists(path):
            journal.trash(path)
        elif item["type"] == "block":
            remove_block(journal, item)
        elif item["type"] == "tree":
            journal.remove_tree(path, item["files"])
    for item in items:
        if item["type"] == "blender_cli":
            remove_with_blender(journal, item)


def _banner(s: Setup, text: str) -> None:
    print(text + ("  [dry run: nothing will change]" if s.options.dry_run else ""))
    owner = s.home.stat().st_uid if hasattr(os, "geteuid") and s.home.exists() else None
    if owner is not None and os.geteuid() == 0 and owner != 0:
        print(f"warning: running as root for {s.home}, which belongs to user id {owner}: what this run creates "
              "there will belong to root; run install.py as that user instead (without sudo)", file=sys.stderr)


def _is_current(s: Setup, step: Step, probe: Journal) -> bool:
    """Whether the record has ``step`` with the same fingerprint and all its items still in place."""
    done = s.record["steps"].get(step.key)
    return done is not None and done["fingerprint"] == step.fingerprint and items_intact(probe, done["items"])


def install(s: Setup) -> int:
    """Install or update everything whose step changed; exit code."""
    _banner(s, f"Relume installer: {s.repo} -> {s.relume_folder}")
    engine_step, engine_python, device = plan_engine(s)
    steps = [engine_step, *plan_assets(s, Downloader(s.cache_dir, engine_python)),
             *plan_config(s, engine_python, device), *plan_blender(s), *plan_nuke(s)]
    probe = Journal(dry_run=True)
    todo = [step for step in steps if not _is_current(s, step, probe)]
    if not todo:
        print("Relume is already installed and up to date: nothing to do.")
        return EXIT_OK

    def work(journal: Journal, record: dict) -> None:
        if not journal.exists(s.relume_folder):
            print(f"==> Relume folder {s.relume_folder}")
            record["home_dirs"] += [item["path"] for item in journal.mkdirs(s.relume_folder)]
        for step in todo:
            print(f"==> {step.title}")
            kept = []
            if step.key in record["steps"]:
                print("    (changed since the last install, or damaged: replacing it)")
                old = record["steps"][step.key]["items"]
                undo_items(journal, old)
                kept = [item for item in old if item["type"] == "dir" and journal.exists(Path(item["path"]))]
            items = kept + step.apply(journal)
            record["steps"][step.key] = {"title": step.title, "fingerprint": step.fingerprint, "items": items}
        if not journal.dry_run:
            save_record(s.record_path, record)

    code = carry_out(s, lambda journal: work(journal, s.record),
                     lambda journal: work(journal, json.loads(json.dumps(s.record))),   # the preview edits a copy
                     "Install?", f"Done. Installed items are listed in {s.record_path}.")
    if code == EXIT_OK:
        for hint in dict.fromkeys(step.hint for step in todo if step.hint and not s.options.dry_run):
            print(hint)
        for warning in s.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return code


def uninstall(s: Setup) -> int:
    """Remove everything the install record lists, the download cache and the record; exit code."""
    _banner(s, f"Relume uninstaller: {s.relume_folder}")
    if not s.record_path.exists() and not s.cache_dir.exists():
        print(f"Relume is not installed for this user (no {s.record_path}): nothing to remove.")
        return EXIT_OK

    def work(journal: Journal) -> None:
        if journal.exists(s.cache_dir):
            print(f"==> Download cache {s.cache_dir}")
            journal.trash(s.cache_dir)
        for key in reversed(list(s.record["steps"])):
            print(f"==> Remove: {s.record['steps'][key]['title']}")
            undo_items(journal, s.record["steps"][key]["items"])
        if journal.exists(s.record_path):
            print("==> Install record")
            journal.trash(s.record_path)
        for folder in reversed(s.record["home_dirs"]):
            journal.rmdir_if_empty(Path(folder))

    return carry_out(s, work, work, "Remove everything Relume's installer added?", "Relume was removed.")
