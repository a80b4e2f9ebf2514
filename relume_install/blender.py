"""The Blender extension steps: copied into each Blender 4.2+ ``user_default`` extension folder, or
installed through Blender's own ``--command extension install-file`` with ``--blender EXE``."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from relume_install.errors import UsageError
from relume_install.journal import Journal
from relume_install.platform_paths import blender_config_root, user_path
from relume_install.steps import Setup, Step, already_there, digest, note

MIN_BLENDER = (4, 2)                      # first Blender with extensions (blender_manifest.toml)
SHARED_PACKAGE = "relume_host"            # the checkout's host-contract package, copied into the extension


def blender_extension_repos(platform: str, env: Mapping[str, str], home: Path) -> tuple[list[Path], list[str]]:
    """Blender's ``user_default`` extension folders to install into, and the too-old versions seen.

    ``$BLENDER_USER_EXTENSIONS`` or ``$BLENDER_USER_RESOURCES`` (Blender's own overrides) give one
    folder; otherwise every ``<config root>/<major.minor>`` of Blender 4.2 or newer.
    """
    if env.get("BLENDER_USER_EXTENSIONS"):
        return [Path(env["BLENDER_USER_EXTENSIONS"]) / "user_default"], []
    if env.get("BLENDER_USER_RESOURCES"):
        return [Path(env["BLENDER_USER_RESOURCES"]) / "extensions" / "user_default"], []
    root = Path(blender_config_root(platform, env, home))
    versions = []
    for folder in root.iterdir() if root.is_dir() else ():
        match = re.fullmatch(r"(\d+)\.(\d+)", folder.name)
        if match and folder.is_dir():
            versions.append(((int(match[1]), int(match[2])), folder))
    versions.sort()
    repos = [folder / "extensions" / "user_default" for version, folder in versions if version >= MIN_BLENDER]
    return repos, [folder.name for version, folder in versions if version < MIN_BLENDER]


def plugin_files(folder: Path) -> list[str]:
    """A plugin folder's files to install (POSIX relative paths), without caches and hidden files."""
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and path.suffix != ".pyc" and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            files.append(rel.as_posix())
    return files


def extension_files(repo: Path) -> dict[str, Path]:
    """The extension's files, by their path in the extension (POSIX): ``plugin_blender/``'s, and the shared
    ``relume_host/`` package (the contracts the engine and the Nuke plug-in read alike) as its subpackage, since an
    extension must be self-contained (the add-on imports it as ``from .relume_host import ...``)."""
    files = {rel: repo / "plugin_blender" / rel for rel in plugin_files(repo / "plugin_blender")}
    files.update({f"{SHARED_PACKAGE}/{rel}": repo / SHARED_PACKAGE / rel for rel in plugin_files(repo / SHARED_PACKAGE)})
    return files


def tree_digest(files: Mapping[str, Path]) -> str:
    """sha256 hex over the names (in order) and contents of ``files`` (path in the extension -> file)."""
    hasher = hashlib.sha256()
    for rel in sorted(files):
        hasher.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(files[rel].read_bytes()).digest())
    return hasher.hexdigest()


def blender_command(blender: str, *args: str) -> list[str]:
    """Blender's extension CLI (Blender manual, 'Extensions Command Line Arguments'); implies --background."""
    return [blender, "--command", "extension", *args]


def build_extension_zip(files: Mapping[str, Path], zip_path: Path) -> None:
    """The extension package Blender installs: ``files`` (path in the extension -> file) with the manifest at
    the zip's root, as ``blender --command extension build`` lays it out."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in sorted(files):
            archive.write(files[rel], rel)


def plan_blender(s: Setup) -> list[Step]:
    """The extension steps for this checkout's ``plugin_blender/`` (none when skipped or not found)."""
    src = s.repo / "plugin_blender"
    manifest = src / "blender_manifest.toml"
    if s.options.no_blender:
        note("Blender: skipped (--no-blender)")
        return []
    if not manifest.is_file():
        note("Blender: this checkout has no plugin_blender/blender_manifest.toml yet; skipped")
        return []
    match = re.search(r'^id\s*=\s*"([a-z0-9_]+)"', manifest.read_text(encoding="utf-8"), re.MULTILINE)
    if not match:
        raise UsageError(manifest, 'needs an id line such as id = "relume"')
    ext_id = match[1]
    if not (s.repo / SHARED_PACKAGE / "__init__.py").is_file():
        raise UsageError(s.repo / SHARED_PACKAGE, "missing: the extension needs the checkout's shared package; "
                                                  "use a complete Relume checkout")
    files = extension_files(s.repo)
    tree = tree_digest(files)
    if s.options.blender:
        return [_plan_blender_cli(s, files, tree, ext_id)]
    repos, too_old = blender_extension_repos(s.platform, s.env, s.home)
    if too_old:
        note(f"Blender {', '.join(too_old)} found: Relume needs {MIN_BLENDER[0]}.{MIN_BLENDER[1]} or newer there")
    if not repos:
        note(f"Blender 4.2+ not found (no user folder in {blender_config_root(s.platform, s.env, s.home)}); skipped. "
             "Start Blender once and re-run, or pass --blender EXE. (Blender as a Python module, bpy from PyPI, "
             "never creates that folder: set BLENDER_USER_RESOURCES to the folder it should use.)")
        return []
    steps = []
    for repo_dir in repos:
        dest = repo_dir / ext_id
        key = f"blender:{dest}"
        if already_there(s, key, dest,
                         lambda dest=dest: tree_digest({rel: dest / rel for rel in plugin_files(dest)}) == tree):
            continue

        def apply(journal: Journal, dest: Path = dest) -> list[dict]:
            # into the folder as it is: files someone else added to it (kept by an update) stay
            return [*journal.mkdirs(dest.parent), journal.copy_tree(files, dest, f"{src} + {s.repo / SHARED_PACKAGE}")]

        steps.append(Step(key, f"Blender extension into {dest}", tree, apply,
                          hint="Blender: enable Relume once in Edit > Preferences > Add-ons."))
    return steps


def _plan_blender_cli(s: Setup, files: Mapping[str, Path], tree: str, ext_id: str) -> Step:
    """The step installing through ``--blender EXE``: zip the extension, run Blender's install-file."""
    blender = str(user_path(s.options.blender))
    if not (os.path.isfile(blender) and os.access(blender, os.X_OK)):
        raise UsageError("--blender", f"{blender} is not an executable")
    package = f"user_default.{ext_id}"

    def apply(journal: Journal) -> list[dict]:
        with tempfile.TemporaryDirectory(prefix="relume-") as tmp:
            zip_path = Path(tmp) / f"{ext_id}.zip"
            build_extension_zip(files, zip_path)
            install = blender_command(blender, "install-file", "-r", "user_default", "--enable", str(zip_path))
            remove = blender_command(blender, "remove", package)
            journal.run(install, f"run Blender's remove for {package}", partial(subprocess.run, remove, check=True))
        return [{"type": "blender_cli", "blender": blender, "package": package}]

    return Step(f"blender-cli:{blender}", f"Blender extension through {blender} (installed and enabled)",
                digest(tree, blender), apply)


def remove_with_blender(journal: Journal, item: dict) -> None:
    """Take back a ``blender_cli`` record item with Blender's own ``extension remove``."""
    journal.run(blender_command(item["blender"], "remove", item["package"]))
