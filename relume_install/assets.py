"""The asset steps: one per file in ``assets.json``, fetched into ``<relume home>/assets/<dest>``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from relume_host import home
from relume_install.download import Downloader, sha256_file
from relume_install.errors import SourceError
from relume_install.journal import Journal
from relume_install.manifest import AssetFile, load_manifest, safe_dest
from relume_install.sources import asset_source, check_url
from relume_install.steps import Setup, Step, already_there, note, place_new


def plan_assets(s: Setup, downloader: Downloader) -> list[Step]:
    """A step per manifest file not yet installed; a file with no source becomes a warning."""
    root = home.assets_dir(s.env)
    steps, licences = [], set()
    for file in load_manifest(s.repo / "assets.json"):
        if file.asset not in licences:
            licences.add(file.asset)
            note(f"asset {file.asset}: licence {file.license}")
        dest = safe_dest(root, file.dest)
        source = asset_source(file, s.options.mirror)
        key = f"asset:{file.dest}"
        if source is None:
            warning = (f"asset {file.asset} is not installed: it has no public download; install it with "
                       "--mirror DIR_OR_URL (README: 'Assets and mirrors')")
            if warning not in s.warnings:
                s.warnings.append(warning)
                note(warning)
            continue
        if isinstance(source, Path):
            if not source.is_file():
                raise SourceError(source, f"not in the mirror (expected <mirror>/{file.dest})")
        else:
            check_url(source, file.dest)
        if already_there(s, key, dest, lambda: dest.stat().st_size == file.size and sha256_file(dest) == file.sha256):
            continue
        steps.append(Step(key, f"Asset {file.dest}", file.sha256, partial(_place, downloader, file, source, dest)))
    return steps


def _place(downloader: Downloader, file: AssetFile, source: str | Path, dest: Path, journal: Journal) -> list[dict]:
    fetch = partial(downloader.fetch, journal, file, source)
    return place_new(journal, dest, lambda: journal.place_download(fetch, source, dest, file.size,
                                                                   keep=isinstance(source, str)))
