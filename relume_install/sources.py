"""Where an asset file comes from: the manifest's URL or ``--mirror``, and which URLs are allowed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

from relume_install.errors import SourceError, UsageError
from relume_install.manifest import AssetFile
from relume_install.platform_paths import user_path

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_url(url: str, where: object) -> None:
    """Allow https, and plain http only to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return
    raise SourceError(where, f"refusing {url}: only https, or plain http to this machine ({', '.join(LOCAL_HOSTS)}), is allowed")


def asset_source(file: AssetFile, mirror: str | None) -> str | Path | None:
    """Where to get ``file``: ``<mirror>/<dest>`` (a folder or a URL), else the manifest's URL."""
    if mirror is None:
        return file.url
    scheme = urlsplit(mirror).scheme
    if scheme in ("http", "https"):
        return mirror.rstrip("/") + "/" + quote(file.dest)
    if scheme == "file":
        return Path(url2pathname(urlsplit(mirror).path)) / file.dest
    if len(scheme) > 1:                   # one letter is a Windows drive
        raise UsageError("--mirror", f"{mirror}: use a folder, or an http(s):// or file:// URL")
    return user_path(mirror) / file.dest
