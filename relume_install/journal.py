"""The journal: every change of a run, printed, performed, and undone newest-first on failure."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from relume_install.errors import InstallError
from relume_install.fileops import move_file, remove_path, restore_bytes, rewrite_file, rmdir_if_empty
from relume_install.progress import human_size


class Journal:
    """Carries out a run's changes, printing each, and keeps how to undo them.

    With ``dry_run`` it only prints, tracking what it would have created or removed so later
    checks (``exists``) answer as they would during the real run. Methods that add something
    return the install-record item (``{"type": "dir"|"path", "path": ...}``) describing it.
    """

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._trash: list[Path] = []
        self._rmdirs: list[Path] = []
        self._temporary: list[Path] = []
        self._made: set[Path] = set()
        self._gone: set[Path] = set()

    def say(self, text: str) -> None:
        """Print one action line."""
        print(f"    {text}")

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists as far as this run is concerned (dry-run changes included)."""
        if path in self._gone:
            return False
        return path in self._made or os.path.lexists(path)

    def _will(self, text: str, undo_text: str, undo: Callable[[], None]) -> bool:
        """Print an action and, in a real run, register its undo first; True when it must be done."""
        self.say(text)
        if self.dry_run:
            return False
        self._undo.append((undo_text, undo))
        return True

    def _created(self, path: Path) -> dict:
        self._made.add(path)
        self._gone.discard(path)
        return {"type": "path", "path": str(path)}

    def mkdirs(self, path: Path, temporary: bool = False) -> list[dict]:
        """Create ``path`` and missing parents; return a ``dir`` item per folder created."""
        missing = []
        while not self.exists(path):
            missing.append(path)
            path = path.parent
        items = []
        for folder in reversed(missing):
            text = f"create folder {folder}" + (" (download cache, removed when empty)" if temporary else "")
            if folder in self._rmdirs:    # removed earlier in this run, not yet for real: keep it
                self._rmdirs.remove(folder)
            elif self._will(text, f"remove folder {folder}", partial(rmdir_if_empty, folder)):
                folder.mkdir()
            self._created(folder)
            if temporary:
                self._temporary.append(folder)
            else:
                items.append({"type": "dir", "path": str(folder)})
        return items

    def write_new(self, path: Path, data: bytes) -> dict:
        """Write a new file."""
        if self._will(f"write {path}", f"remove {path}", partial(remove_path, path)):
            rewrite_file(path, data)
        return self._created(path)

    def copy_tree(self, files: Mapping[str, Path], dest: Path, source: str) -> dict:
        """Copy ``files`` (POSIX path under ``dest`` -> source file; ``source`` names where they come from, for the
        log) into ``dest`` (created when missing); an existing file
        there is refused, as not installed by Relume. The ``tree`` item lists the files, so that removing it
        (:meth:`remove_tree`) takes exactly them and keeps anything else someone put in ``dest``."""
        clash = next((rel for rel in files if self.exists(dest / rel)), None)
        if clash is not None:
            raise InstallError(dest / clash, "already exists and was not installed by Relume; move it away, then re-run")
        new = not self.exists(dest)
        undo = partial(remove_path, dest) if new else partial(_remove_files, dest, sorted(files))
        if self._will(f"copy {source} -> {dest} ({len(files)} files)", f"remove {dest}" if new else
                      f"remove the {len(files)} files copied into {dest}", undo):
            for rel, source in sorted(files.items()):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest / rel)
        self._created(dest)
        return {"type": "tree", "path": str(dest), "files": sorted(files)}

    def remove_tree(self, root: Path, files: list[str]) -> None:
        """Take back a ``tree`` item: its files (and the bytecode Python compiled from them), then the folders
        they leave empty; whatever else is in ``root`` stays and is named."""
        for rel in files:
            path = root / rel
            compiled = sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.pyc")) if path.suffix == ".py" else []
            for target in [path, *compiled]:
                if self.exists(target):
                    self.trash(target)
        folders = {root / rel for file in files for rel in _parents(file)} | {root}
        folders |= {folder / "__pycache__" for folder in folders}
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            self.rmdir_if_empty(folder)
        if self.exists(root):
            kept = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                          if not p.is_dir() and self.exists(p) and p not in self._trash)
            self.say(f"kept in {root}, not installed by Relume: {', '.join(kept)}")

    def place_download(self, fetch: Callable[[], Path], source: object, dest: Path, size: int, keep: bool) -> dict:
        """Fetch a verified file and move it to ``dest``; undo moves it back to the cache when ``keep``."""
        self.say(f"fetch {source} -> {dest} ({human_size(size)})")
        if not self.dry_run:
            part = fetch()
            if keep:
                self._undo.append((f"remove {dest} (kept as {part} for the next run)", partial(move_file, dest, part)))
            else:
                self._undo.append((f"remove {dest}", partial(remove_path, dest)))
            move_file(part, dest)
        return self._created(dest)

    def edit(self, path: Path, data: bytes | None, text: str) -> None:
        """Replace a file's bytes (``None`` deletes it); undo restores the old bytes exactly."""
        old = path.read_bytes() if path.exists() else None
        if self._will(text, f"restore {path}", partial(restore_bytes, path, old)):
            rewrite_file(path, data)

    def trash(self, path: Path) -> None:
        """Remove ``path``: moved aside now, deleted at commit, put back on rollback."""
        aside = path.with_name(f".{path.name}.relume-removed-{os.getpid()}")
        if self._will(f"remove {path}", f"put back {path}", partial(os.replace, aside, path)):
            os.replace(path, aside)
            self._trash.append(aside)
        self._gone.add(path)
        self._made.discard(path)

    def rmdir_if_empty(self, path: Path) -> None:
        """Remove a folder that is empty once this run's removals are done (for real at commit)."""
        if not self.exists(path):
            return
        if path.is_dir() and any(entry not in self._gone and entry not in self._trash for entry in path.iterdir()):
            self.say(f"keep folder {path} (not empty)")
            return
        self.say(f"remove folder {path}")
        self._rmdirs.append(path)
        self._gone.add(path)
        self._made.discard(path)

    def run(self, argv: list[str], undo_text: str = "", undo: Callable[[], None] | None = None) -> None:
        """Run a command (its output goes to the terminal); a non-zero exit is a failed step."""
        text = f"run: {shlex.join(argv)}"
        if undo is None:
            self.say(text)
            proceed = not self.dry_run
        else:
            proceed = self._will(text, undo_text, undo)
        if not proceed:
            return
        result = subprocess.run(argv, check=False)
        if result.returncode:
            raise InstallError(argv[0], f"`{shlex.join(argv[1:4])} ...` exited with code {result.returncode} (its output is above)")

    def run_creating(self, argv: list[str], path: Path) -> dict:
        """Run a command that creates ``path`` (a venv); undo deletes it, even half made."""
        self.run(argv, f"remove {path}", partial(remove_path, path))
        return self._created(path)

    def rollback(self) -> None:
        """Undo this run's changes, newest first, reporting each on stderr."""
        print("Rolling back what this run did:", file=sys.stderr)
        for text, undo in reversed(self._undo):
            try:
                undo()
                print(f"    {text}", file=sys.stderr)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"    could not {text}: {exc}", file=sys.stderr)
        self._undo.clear()
        self._trash.clear()
        self._rmdirs.clear()
        self._drop_temporary()

    def commit(self) -> None:
        """Make the run's removals final: delete what was moved aside, then the emptied folders."""
        for path in [*self._trash, *self._rmdirs]:
            try:
                remove_path(path) if path in self._trash else path.rmdir()
            except OSError as exc:
                print(f"warning: could not delete {path}: {exc}", file=sys.stderr)
        self._undo.clear()
        self._drop_temporary()

    def _drop_temporary(self) -> None:
        for folder in reversed(self._temporary):
            rmdir_if_empty(folder)


def _parents(rel: str) -> list[str]:
    """The folders above a POSIX relative path, nearest first ("a/b/c.py" -> ["a/b", "a"])."""
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _remove_files(root: Path, files: list[str]) -> None:
    """Delete ``files`` under ``root`` and the folders that leaves empty (the rollback of a copy into a folder
    that was already there)."""
    for rel in files:
        remove_path(root / rel)
    for folder in sorted({root / parent for rel in files for parent in _parents(rel)}, key=lambda f: len(f.parts),
                         reverse=True):
        rmdir_if_empty(folder)
