"""What a run plans: one :class:`Step` per thing to install, and the helpers the planners share."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from relume_host.home import relume_home
from relume_install.errors import InstallError
from relume_install.journal import Journal
from relume_install.platform_paths import download_cache_dir
from relume_install.record import RECORD_NAME


@dataclass
class Step:
    """One thing to install: it runs when its ``fingerprint`` changed or its recorded items are gone.

    ``apply`` carries it out through the journal and returns the install-record items it added.
    """

    key: str
    title: str
    fingerprint: str
    apply: Callable[[Journal], list[dict]]
    hint: str = ""                        # printed once the run succeeded


@dataclass(frozen=True)
class InstallOptions:
    """The installer's command-line options (``python install.py --help`` says what each does); paths as typed."""

    dry_run: bool = False
    uninstall: bool = False
    yes: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    prefix: str | None = None
    python: str | None = None
    mirror: str | None = None
    blender: str | None = None
    no_blender: bool = False
    no_nuke: bool = False


@dataclass
class Setup:
    """What one run works with, resolved once from the options and this machine."""

    repo: Path
    platform: str
    env: Mapping[str, str]
    home: Path
    options: InstallOptions
    record: dict
    warnings: list[str]

    @property
    def relume_folder(self) -> Path:
        """Relume's per-user folder for this run's environment."""
        return relume_home(self.env)

    @property
    def record_path(self) -> Path:
        return self.relume_folder / RECORD_NAME

    @property
    def cache_dir(self) -> Path:
        return Path(download_cache_dir(self.platform, self.env, self.home))

    def owns(self, key: str) -> bool:
        """Whether the install record has step ``key`` (this installer put it there)."""
        return key in self.record["steps"]


def digest(*parts: object) -> str:
    """A fingerprint of ``parts`` (their ``str``), sha256 hex."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode("utf-8")).hexdigest()


def note(text: str) -> None:
    """Print a planning remark (before the actions)."""
    print(f"  - {text}")


def already_there(s: Setup, key: str, path: Path, matches: Callable[[], bool]) -> bool:
    """True when ``path`` already holds what step ``key`` would install, put there by someone else."""
    if s.owns(key) or not os.path.lexists(path):
        return False
    if matches():
        note(f"{path} is already in place (not added by this installer); left as is")
        return True
    raise InstallError(path, "already exists, differs from what Relume installs and was not installed by it; "
                             "move it away, then re-run")


def place_new(journal: Journal, path: Path, put: Callable[[], dict]) -> list[dict]:
    """Create ``path``'s missing folders, then ``put()`` it there; the items added.

    Refuses to overwrite something this installer did not put there.
    """
    items = journal.mkdirs(path.parent)
    if journal.exists(path):
        raise InstallError(path, "already exists and was not installed by Relume; move it away, then re-run")
    items.append(put())
    return items
