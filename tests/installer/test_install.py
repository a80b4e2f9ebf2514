"""install.py end to end, in a temporary HOME with fake Nuke and Blender user folders.

Assets come from a mirror folder copied from ``../shared/assets`` (``$RELUME_SHARED`` overrides),
served by a real ``http.server`` on 127.0.0.1 that honours Range requests and can drop a
connection midway. The engine's Python is the test interpreter (``--python``), so no torch is
installed; one test creates a real venv from a tiny requirements file. The Blender tests install
into real bpy 5.0.1 in a child process and check the extension registers.

The download cache lives outside the temporary HOME (``XDG_CACHE_HOME``), so "HOME is
byte-identical" checks cover exactly the folders an artist owns.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RELUME_SHARED") or REPO.parent / "shared")
ASSETS = SHARED / "assets"
MODEL = "ict_face_model"
NPZ = f"{MODEL}/{MODEL}.npz"
sys.path.insert(0, str(REPO))
from relume_install import cli, download, engine_env, errors, platform_paths  # noqa: E402
from relume_install.manifest import load_manifest  # noqa: E402
from support.host_python import foreign_imports  # noqa: E402

ARTIST_INIT = b"import nuke\r\nnuke.pluginAddPath('/studio/tools')"      # CRLF, no final newline
EXT_MANIFEST = textwrap.dedent('''\
    schema_version = "1.0.0"
    id = "relume"
    version = "0.1.0"
    name = "Relume (test)"
    tagline = "Stand-in extension for the installer tests"
    maintainer = "Relume"
    type = "add-on"
    blender_version_min = "4.2.0"
    license = ["SPDX:GPL-3.0-or-later"]
    ''')
EXT_INIT = textwrap.dedent('''\
    import bpy


    class RELUME_OT_ping(bpy.types.Operator):
        bl_idname = "relume.ping"
        bl_label = "Ping"

        def execute(self, context):
            return {"FINISHED"}


    def register():
        bpy.utils.register_class(RELUME_OT_ping)


    def unregister():
        bpy.utils.unregister_class(RELUME_OT_ping)
    ''')
# Run in bpy: enable the installed extension (with "--enabled": load the saved preferences, which
# must enable it) and report. bpy as a module starts with factory preferences.
BPY_CHECK = textwrap.dedent('''\
    import sys, bpy, addon_utils
    module = "bl_ext.user_default.relume"
    if sys.argv[-1] == "--enabled":
        bpy.ops.wm.read_userpref()
    else:
        def fail(exc):
            raise SystemExit(f"register failed: {exc!r}")
        addon_utils.enable(module, default_set=True, handle_error=fail)
    print("ENABLED", module in bpy.context.preferences.addons)
    print("PING", bpy.ops.relume.ping() if hasattr(bpy.types, "RELUME_OT_ping") else None)
    print("PANEL", hasattr(bpy.types, "RELUME_PT_main"))
    ''')
# A stand-in `blender` executable: hands `--command extension ...` to Blender's own handler in bpy.
BLENDER_SHIM = textwrap.dedent('''\
    import sys
    args = sys.argv[1:]
    assert args[:2] == ["--command", "extension"], args
    import bpy
    sys.exit(sys.modules["bl_pkg"].cli_extension(args[2:]) or 0)
    ''')


# ------------------------------------------------------------------------------------------
# Fixtures


def tree_state(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its kind, mode and content hash."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            state[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            state[rel] = f"dir {mode:o}"
        else:
            state[rel] = f"file {mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME: an artist's ~/.nuke/init.py, Blender 5.0 (with another extension) and 3.6."""
    home = tmp_path / "home"
    for var in ("RELUME_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "NUKE_PATH", "BLENDER_USER_RESOURCES",
                "BLENDER_USER_EXTENSIONS", "BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "RETRY_DELAYS_S", (0.0, 0.0, 0.0))
    (home / ".nuke").mkdir(parents=True)
    (home / ".nuke" / "init.py").write_bytes(ARTIST_INIT)
    (home / ".nuke" / "menu.py").write_text("# the artist's menu\n")
    blender = home / ".config" / "blender"
    (blender / "5.0" / "config").mkdir(parents=True)
    (blender / "5.0" / "config" / "userpref.blend").write_bytes(b"BLENDER-v500 fake prefs")
    (blender / "5.0" / "extensions" / "user_default" / "other_tool").mkdir(parents=True)
    (blender / "5.0" / "extensions" / "user_default" / "other_tool" / "__init__.py").write_text("# someone else's\n")
    (blender / "3.6" / "scripts").mkdir(parents=True)
    return home


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small Relume checkout: the real assets.json and relume_host, stand-in plugins (the real ones are in flux)."""
    repo = tmp_path / "relume"
    (repo / "plugin_nuke").mkdir(parents=True)
    (repo / "plugin_nuke" / "init.py").write_text("# Relume Nuke plugin (test stand-in)\n")
    (repo / "plugin_nuke" / "menu.py").write_text("# Relume menu (test stand-in)\n")
    (repo / "gizmos").mkdir()
    (repo / "gizmos" / "Relume_Relight.gizmo").write_text("Gizmo {\n}\n")
    (repo / "plugin_blender" / "__pycache__").mkdir(parents=True)
    (repo / "plugin_blender" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    (repo / "plugin_blender" / "blender_manifest.toml").write_text(EXT_MANIFEST)
    (repo / "plugin_blender" / "__init__.py").write_text(EXT_INIT)
    shutil.copy(REPO / "assets.json", repo / "assets.json")
    shutil.copytree(REPO / "relume_host", repo / "relume_host", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "requirements.txt").write_text("# nothing: the venv test needs no package\n")
    return repo


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    if not (ASSETS / NPZ).is_file():
        pytest.fail(f"{ASSETS / NPZ} missing: set RELUME_SHARED to the folder holding assets/")
    folder = tmp_path / "mirror"
    shutil.copytree(ASSETS / MODEL, folder / MODEL)
    return folder


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support; ``drops[path]`` times it cuts a response in half (or, for
    the last ``stalls_after`` of them, sends no body at all)."""

    root: Path
    log: list[tuple[str, str | None]]
    drops: dict[str, int]
    redirect_to: str = ""          # when set, every request under /hop/ is redirected there (302)
    stalls_after: int = 0          # the last this-many drops send no bytes at all (a stalled link)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        if rel.startswith("hop/") and self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to + rel[len("hop/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = self.root / rel
        self.log.append((rel, self.headers.get("Range")))
        if not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match[1]) if match else 0
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.drops.get(rel, 0) > 0:
            self.drops[rel] -= 1
            self.wfile.write(body[: len(body) // 2] if self.drops[rel] >= self.stalls_after else b"")
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(mirror: Path):
    """The mirror served on 127.0.0.1: ``.url``, ``.log`` (path, Range), ``.drops`` and ``.handler``."""
    handler = type("Handler", (MirrorHandler,), {"root": mirror, "log": [], "drops": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield types.SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}/", log=handler.log, drops=handler.drops,
                                handler=handler)
    httpd.shutdown()
    httpd.server_close()


def run(source: Path, *args: str) -> int:
    """install.py's main() in this process, unattended, with this interpreter as the engine's Python."""
    return cli.main(["--yes", "--python", sys.executable, *args], repo=source)


def ext_dir(home: Path) -> Path:
    return home / ".config" / "blender" / "5.0" / "extensions" / "user_default" / "relume"


def bpy_check(home: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", BPY_CHECK, *args], env={**os.environ, "HOME": str(home)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fake_nuke_calls(init_py: Path) -> list[str]:
    """Execute ~/.nuke/init.py with a stand-in ``nuke`` module; the folders given to pluginAddPath."""
    calls: list[str] = []
    fake = types.ModuleType("nuke")
    fake.pluginAddPath = calls.append
    saved = sys.modules.get("nuke")
    sys.modules["nuke"] = fake
    try:
        exec(compile(init_py.read_bytes(), str(init_py), "exec"), {})
    finally:
        if saved is None:
            del sys.modules["nuke"]
        else:
            sys.modules["nuke"] = saved
    return calls


# ------------------------------------------------------------------------------------------
# Install, re-run, uninstall


def test_fresh_install(home: Path, source: Path, server, capsys: pytest.CaptureFixture) -> None:
    assert run(source, "--mirror", server.url) == 0
    out = capsys.readouterr().out
    relume = home / ".relume"
    manifest = load_manifest(source / "assets.json")
    for file in manifest:
        assert hashlib.sha256((relume / "assets" / file.dest).read_bytes()).hexdigest() == file.sha256
    assert sorted(path for path, _ in server.log) == sorted(file.dest for file in manifest)
    config = json.loads((relume / "config.json").read_text())
    assert config == {"format": 1, "engine_python": sys.executable, "repo": str(source.resolve()), "device": config["device"]}
    assert config["device"] in ("cpu", "cuda")
    # Blender 5.0 got the extension with its copy of relume_host, without caches; 3.6 is too old and is named.
    shared = sorted(f"relume_host/{p.name}" for p in (REPO / "relume_host").glob("*.py"))
    assert sorted(p.relative_to(ext_dir(home)).as_posix() for p in ext_dir(home).rglob("*")) == \
        sorted(["__init__.py", "blender_manifest.toml", "relume_host", *shared])
    assert not (home / ".config" / "blender" / "3.6" / "extensions").exists()
    assert "Blender 3.6 found" in out
    # Nuke: the artist's bytes untouched, a marked block appended in the file's CRLF style.
    init = (home / ".nuke" / "init.py").read_bytes()
    assert init.startswith(ARTIST_INIT + b"\r\n# >>> relume >>>\r\n") and init.endswith(b"# <<< relume <<<\r\n")
    assert fake_nuke_calls(home / ".nuke" / "init.py") == [
        "/studio/tools", str(source.resolve() / "plugin_nuke"), str(source.resolve() / "gizmos")]
    record = json.loads((relume / "install_record.json").read_text())
    assert list(record["steps"])[0] == "engine" and record["home_dirs"] == [str(relume)]


def test_second_run_is_a_no_op(home: Path, source: Path, server, capsys: pytest.CaptureFixture) -> None:
    assert run(source, "--mirror", server.url) == 0
    before, requests_made = tree_state(home), len(server.log)
    capsys.readouterr()
    assert run(source, "--mirror", server.url) == 0
    assert "already installed and up to date: nothing to do" in capsys.readouterr().out
    assert tree_state(home) == before and len(server.log) == requests_made


def test_a_second_installer_on_the_same_home_waits_its_turn(home: Path, source: Path, server,
                                                              capsys: pytest.CaptureFixture) -> None:
    from relume_host.atomic import exclusive_writer

    before = tree_state(home)
    with exclusive_writer(home / ".relume", busy="held by the test"):     # another install is running
        assert run(source, "--mirror", server.url) == errors.EXIT_FAILED
        assert "another Relume install or uninstall is running for this folder" in capsys.readouterr().err
        assert run(source, "--uninstall") == errors.EXIT_FAILED
    assert tree_state(home) == before and len(server.log) == 0
    assert run(source, "--mirror", server.url) == 0                       # and once it is done, this one runs
    assert not (home / ".relume.lock").exists()


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_terminating_signals_roll_back_and_a_second_one_cannot_stop_the_rollback(
        home: Path, source: Path, server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        name: str) -> None:
    import signal as signals

    from relume_install import journal, nuke

    number = getattr(signals, name)
    before, handler = tree_state(home), signals.getsignal(number)
    appended = nuke.append_block

    def closed_terminal(*args, **kwargs):          # the last step: assets and config are in place by now
        os.kill(os.getpid(), number)
        return appended(*args, **kwargs)

    rollback = journal.Journal.rollback

    def impatient(self):                           # and the signal comes again during the rollback
        os.kill(os.getpid(), number)
        return rollback(self)

    monkeypatch.setattr(nuke, "append_block", closed_terminal)
    monkeypatch.setattr(journal.Journal, "rollback", impatient)
    assert run(source, "--mirror", server.url) == 128 + number
    assert f"terminated ({name})" in capsys.readouterr().err
    assert tree_state(home) == before
    assert signals.getsignal(number) == handler   # the handlers were put back (SIG_IGN under nohup, for one)


def test_init_py_is_edited_in_place(home: Path, source: Path, server, tmp_path: Path) -> None:
    """Inode, mode and hard links of the artist's init.py survive install and uninstall."""
    init = home / ".nuke" / "init.py"
    os.chmod(init, 0o640)
    link = tmp_path / "init_hard_link.py"
    os.link(init, link)
    inode = init.stat().st_ino
    assert run(source, "--mirror", server.url) == 0
    assert init.stat().st_ino == inode and link.read_bytes() == init.read_bytes() and b"relume" in init.read_bytes()
    assert init.stat().st_mode & 0o777 == 0o640
    assert run(source, "--uninstall") == 0
    assert init.stat().st_ino == inode and link.read_bytes() == init.read_bytes() == ARTIST_INIT
    assert not list((home / ".nuke").glob(".*relume*"))


def test_root_is_warned_off_another_users_home(home: Path, source: Path, mirror: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)                     # sudo python install.py
    monkeypatch.setattr(Path, "stat", lambda self, **kw: os.stat_result((0o40755, 0, 0, 1, 1000, 1000, 0, 0, 0, 0))
                        if self == home else os.stat(self, **kw))      # ... for a home owned by user 1000
    assert run(source, "--mirror", str(mirror), "--dry-run") == 0
    assert f"warning: running as root for {home}, which belongs to user id 1000" in capsys.readouterr().err
    monkeypatch.undo()
    assert run(source, "--mirror", str(mirror), "--dry-run") == 0
    assert "running as root" not in capsys.readouterr().err


def test_uninstall_leaves_home_byte_identical(home: Path, source: Path, server, tmp_path: Path) -> None:
    (home / ".nuke" / "init.py").unlink()          # init.py created by the install must go again
    before = tree_state(home)
    assert run(source, "--mirror", server.url) == 0
    assert (home / ".nuke" / "init.py").is_file() and ext_dir(home).is_dir()
    assert run(source, "--uninstall") == 0
    assert tree_state(home) == before
    assert not (tmp_path / "cache" / "relume").exists()
    assert run(source, "--uninstall") == 0          # nothing left to remove, says so


def test_update_replaces_only_what_changed(home: Path, source: Path, mirror: Path, server,
                                          capsys: pytest.CaptureFixture) -> None:
    before = tree_state(home)
    assert run(source, "--mirror", server.url) == 0
    (source / "plugin_blender" / "__init__.py").write_text(EXT_INIT + "\n# v2\n")
    requests_made = len(server.log)
    capsys.readouterr()
    assert run(source, "--mirror", server.url) == 0
    out = capsys.readouterr().out
    assert out.count("==> ") == 1 and "replacing it" in out and "Blender extension" in out
    assert (ext_dir(home) / "__init__.py").read_text().endswith("# v2\n") and len(server.log) == requests_made
    # A new version of the model: only that file is fetched again; its folder stays owned by the install.
    (mirror / NPZ).write_bytes((mirror / NPZ).read_bytes() + b"v2")
    manifest = json.loads((source / "assets.json").read_text())
    manifest["assets"][0]["files"][0].update(size=(mirror / NPZ).stat().st_size, sha256=download.sha256_file(mirror / NPZ))
    (source / "assets.json").write_text(json.dumps(manifest))
    assert run(source, "--mirror", server.url) == 0
    assert server.log[requests_made:] == [(NPZ, None)]
    assert (home / ".relume" / "assets" / NPZ).read_bytes() == (mirror / NPZ).read_bytes()
    assert run(source, "--uninstall") == 0
    assert tree_state(home) == before


def test_user_files_in_the_extension_folder_survive_update_and_uninstall(home: Path, source: Path, server,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """Only what the installer copied is removed (with the bytecode Blender compiled from it); a preset someone
    saved in the extension's folder stays through an update and an uninstall, and the uninstall names it."""
    before = tree_state(home)
    assert run(source, "--mirror", server.url) == 0
    (ext_dir(home) / "presets").mkdir()
    (ext_dir(home) / "presets" / "key_light.json").write_text('{"mine": true}')
    (ext_dir(home) / "__pycache__").mkdir()
    (ext_dir(home) / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"compiled by Blender")
    (source / "plugin_blender" / "__init__.py").write_text(EXT_INIT + "\n# v2\n")
    assert run(source, "--mirror", server.url) == 0
    assert (ext_dir(home) / "__init__.py").read_text().endswith("# v2\n")
    assert (ext_dir(home) / "presets" / "key_light.json").read_text() == '{"mine": true}'
    capsys.readouterr()
    assert run(source, "--uninstall") == 0
    out = capsys.readouterr().out
    assert f"kept in {ext_dir(home)}, not installed by Relume: presets/key_light.json" in out
    assert sorted(p.relative_to(ext_dir(home)).as_posix() for p in ext_dir(home).rglob("*")) == \
        ["presets", "presets/key_light.json"]
    shutil.rmtree(ext_dir(home))
    assert tree_state(home) == before


def test_dry_run_prints_every_action_and_changes_nothing(home: Path, source: Path, server,
                                                        capsys: pytest.CaptureFixture) -> None:
    before = tree_state(home)
    assert run(source, "--mirror", server.url, "--dry-run") == 0
    out = capsys.readouterr().out
    for expected in (f"fetch {server.url}{NPZ}", f"copy {source.resolve() / 'plugin_blender'}",
                     f"append the Relume block to {home / '.nuke' / 'init.py'}", "write " + str(home / ".relume" / "config.json")):
        assert expected in out
    assert tree_state(home) == before and server.log == []


def test_dry_run_of_the_real_checkout(tmp_path: Path) -> None:
    """``python install.py --dry-run`` on this checkout, as an artist would type it, in an empty HOME."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("RELUME_HOME", None)
    result = subprocess.run([sys.executable, str(REPO / "install.py"), "--dry-run", "--device", "cpu",
                             "--mirror", str(ASSETS)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"-m venv {tmp_path / '.local/share/relume/venv'}" in result.stdout
    assert f"fetch {ASSETS / NPZ}" in result.stdout and "Dry run finished" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_unattended_run_needs_yes(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(REPO / "install.py"), "--python", sys.executable],
                            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == errors.EXIT_USAGE and "--yes" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# Safety


def test_corrupt_asset_installs_nothing(home: Path, source: Path, mirror: Path, server, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    data = bytearray((mirror / NPZ).read_bytes())
    data[len(data) // 2] ^= 0xFF                     # same size, one byte off
    (mirror / NPZ).write_bytes(bytes(data))
    before = tree_state(home)
    assert run(source, "--mirror", server.url) == errors.EXIT_CHECKSUM
    err = capsys.readouterr().err
    assert "sha256" in err and "deleted" in err
    assert tree_state(home) == before
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_interrupted_download_resumes_with_range(home: Path, source: Path, server, capsys: pytest.CaptureFixture) -> None:
    server.drops[NPZ] = 1
    assert run(source, "--mirror", server.url) == 0
    ranges = [rng for path, rng in server.log if path == NPZ]
    size = (home / ".relume" / "assets" / NPZ).stat().st_size
    assert ranges[0] is None and re.fullmatch(r"bytes=(\d+)-", ranges[1])
    assert 0 < int(ranges[1][6:-1]) < size and len(ranges) == 2
    assert "connection lost" in capsys.readouterr().out
    assert download.sha256_file(home / ".relume" / "assets" / NPZ) == load_manifest(source / "assets.json")[0].sha256


def test_a_slow_link_that_keeps_making_progress_is_not_given_up_on(home: Path, source: Path, server,
                                                                    capsys: pytest.CaptureFixture) -> None:
    server.drops[NPZ] = 6                          # six drops, each after half of what was left
    assert run(source, "--mirror", server.url) == 0
    assert len([path for path, _ in server.log if path == NPZ]) == 7
    assert capsys.readouterr().out.count("connection lost") == 6
    assert download.sha256_file(home / ".relume" / "assets" / NPZ) == load_manifest(source / "assets.json")[0].sha256


def test_download_resumes_in_the_next_run(home: Path, source: Path, server, tmp_path: Path) -> None:
    before = tree_state(home)
    server.drops[NPZ] = 1 + len(download.RETRY_DELAYS_S)       # half the file, then a link that stalls
    server.handler.stalls_after = len(download.RETRY_DELAYS_S)
    assert run(source, "--mirror", server.url) == errors.EXIT_FAILED
    assert tree_state(home) == before
    parts = list((tmp_path / "cache" / "relume").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size > 0
    kept = parts[0].stat().st_size
    server.drops.clear()
    server.handler.stalls_after = 0
    server.log.clear()
    assert run(source, "--mirror", server.url) == 0
    assert [rng for path, rng in server.log if path == NPZ] == [f"bytes={kept}-"]


def test_requests_comes_from_the_engine_python(home: Path, source: Path, server) -> None:
    """install.py run by a Python without requests (-S: no site-packages) borrows the engine venv's."""
    result = subprocess.run([sys.executable, "-S", str(REPO / "install.py"), "--yes", "--python", sys.executable,
                             "--mirror", server.url, "--no-blender", "--no-nuke"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (home / ".relume" / "assets" / NPZ).stat().st_size == load_manifest(source / "assets.json")[0].size


def test_no_nuke_found_skips_nuke(home: Path, source: Path, mirror: Path, capsys: pytest.CaptureFixture) -> None:
    shutil.rmtree(home / ".nuke")
    assert run(source, "--mirror", str(mirror)) == 0
    assert "Nuke not found" in capsys.readouterr().out
    assert not (home / ".nuke").exists() and ext_dir(home).is_dir()


def test_no_blender_user_folder_says_how_to_get_one(home: Path, source: Path, mirror: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    shutil.rmtree(home / ".config" / "blender")          # what a bpy-only machine looks like
    assert run(source, "--mirror", str(mirror)) == 0
    out = capsys.readouterr().out
    assert "Blender 4.2+ not found" in out and "set BLENDER_USER_RESOURCES" in out
    assert not (home / ".config" / "blender").exists()


def test_read_only_target_rolls_back(home: Path, source: Path, server, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    """A read-only ~/.nuke/init.py (chmod; chattr +i when running as root) fails the last step."""
    init = home / ".nuke" / "init.py"
    before = tree_state(home)
    immutable = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    if immutable:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(init)]).returncode:
            pytest.skip("running as root without chattr +i: no way to make a file read-only")
    else:
        init.chmod(0o444)
        before = tree_state(home)
    try:
        assert run(source, "--mirror", server.url) == errors.EXIT_FAILED
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(init)], check=True)
    err = capsys.readouterr().err
    assert f"error: {init}: " in err and "Rolling back" in err
    assert "could not" not in err                  # init.py was never changed, so nothing failed to restore
    assert tree_state(home) == before
    assert len(list((tmp_path / "cache" / "relume").glob("*.part"))) == 3   # downloads kept for the next run


@pytest.mark.parametrize("dest", ["../evil.npz", "ict_face_model/../../evil.npz", "/tmp/evil.npz",
                                  "ict_face_model\\..\\..\\evil.npz", "C:/evil.npz", "other/evil.npz",
                                  "ict_face_model/face\x00.npz", "ict_face_model/a\nb.npz"])
def test_manifest_paths_cannot_escape(home: Path, source: Path, mirror: Path, dest: str,
                                      capsys: pytest.CaptureFixture) -> None:
    manifest = json.loads((source / "assets.json").read_text())
    manifest["assets"][0]["files"][0]["dest"] = dest
    (source / "assets.json").write_text(json.dumps(manifest))
    before = tree_state(home)
    assert run(source, "--mirror", str(mirror)) == errors.EXIT_USAGE
    assert "must be a relative path inside the asset's folder" in capsys.readouterr().err
    assert tree_state(home) == before


def test_symlinked_asset_folder_cannot_escape(home: Path, source: Path, mirror: Path, tmp_path: Path) -> None:
    (home / ".relume" / "assets").mkdir(parents=True)
    (home / ".relume" / "assets" / MODEL).symlink_to(tmp_path / "elsewhere")
    assert run(source, "--mirror", str(mirror)) == errors.EXIT_USAGE
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("mirror_url", ["http://example.com/assets", "http://10.0.0.5:8000/", "ftp://example.com/a"])
def test_plain_http_to_another_host_is_refused(home: Path, source: Path, mirror_url: str,
                                               capsys: pytest.CaptureFixture) -> None:
    before = tree_state(home)
    code = run(source, "--mirror", mirror_url)
    err = capsys.readouterr().err
    if mirror_url.startswith("ftp"):
        assert code == errors.EXIT_USAGE and "--mirror" in err
    else:
        assert code == errors.EXIT_SOURCE and f"refusing {mirror_url.rstrip('/')}/" in err
    assert tree_state(home) == before


def test_each_redirect_is_checked_before_it_is_followed(home: Path, source: Path, mirror: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A redirect to plain http on another machine (here an unroutable TEST-NET address, which would
    hang for the connect timeout if it were tried) is refused before any request goes there."""
    handler = type("Handler", (MirrorHandler,), {"root": mirror, "log": [], "drops": {},
                                                 "redirect_to": "http://198.51.100.7:9/"})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    before = tree_state(home)
    try:
        started = time.monotonic()
        code = run(source, "--mirror", f"http://127.0.0.1:{httpd.server_address[1]}/hop/")
        assert time.monotonic() - started < 10
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == errors.EXIT_SOURCE
    assert "refusing http://198.51.100.7:9/" in capsys.readouterr().err
    assert tree_state(home) == before


def test_someone_elses_relume_block_is_not_touched(home: Path, source: Path, mirror: Path) -> None:
    init = home / ".nuke" / "init.py"
    init.write_text("# >>> relume >>>\nnuke.pluginAddPath('/old/relume')\n# <<< relume <<<\n")
    before = tree_state(home)
    assert run(source, "--mirror", str(mirror)) == errors.EXIT_FAILED
    assert tree_state(home) == before


# ------------------------------------------------------------------------------------------
# Engine environment and per-OS paths


def test_real_venv_is_created_and_removed(home: Path, source: Path, mirror: Path, tmp_path: Path) -> None:
    """No --python: a real venv (from a requirements file with no package, so nothing is downloaded)."""
    venv = tmp_path / "engine-venv"
    args = ["--yes", "--device", "cpu", "--prefix", str(venv), "--mirror", str(mirror), "--no-blender", "--no-nuke"]
    assert cli.main(args, repo=source) == 0
    python = venv / "bin" / "python"
    assert json.loads((home / ".relume" / "config.json").read_text())["engine_python"] == str(python)
    assert subprocess.run([str(python), "-c", "import sys; assert sys.prefix != sys.base_prefix"]).returncode == 0
    assert cli.main(["--yes", "--uninstall"], repo=source) == 0
    assert not venv.exists() and not (home / ".relume").exists()


def test_a_half_built_environment_of_a_killed_run_is_cleared(home: Path, source: Path, mirror: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    from relume_install.engine_env import BUILDING

    venv = tmp_path / "engine-venv"
    args = ["--yes", "--device", "cpu", "--prefix", str(venv), "--mirror", str(mirror), "--no-blender", "--no-nuke"]
    (venv / "lib").mkdir(parents=True)                   # someone else's folder there: refused, untouched
    assert cli.main(args, repo=source) == errors.EXIT_FAILED
    assert "already exists and was not installed by Relume" in capsys.readouterr().err and (venv / "lib").is_dir()
    (venv / BUILDING).write_text("left by a run killed mid-pip")   # ours, unfinished: cleared and rebuilt
    (venv / "lib" / "half-installed-package").write_text("")
    assert cli.main(args, repo=source) == 0
    assert "a half-built environment left by an interrupted run" in capsys.readouterr().out
    assert (venv / "bin" / "python").is_file() and not (venv / BUILDING).exists()
    assert not (venv / "lib" / "half-installed-package").exists()


def test_per_os_locations() -> None:
    win_env = {"LOCALAPPDATA": r"C:\Users\ann\AppData\Local", "APPDATA": r"C:\Users\ann\AppData\Roaming",
               "USERPROFILE": r"C:\Users\ann"}
    win_home = PureWindowsPath(r"C:\Users\ann")
    assert platform_paths.default_venv_dir("win32", win_env, win_home) == PureWindowsPath(r"C:\Users\ann\AppData\Local\Relume\venv")
    assert platform_paths.venv_python(PureWindowsPath(r"C:\v"), "win32") == PureWindowsPath(r"C:\v\Scripts\python.exe")
    assert platform_paths.download_cache_dir("win32", win_env, win_home) == PureWindowsPath(r"C:\Users\ann\AppData\Local\Relume\Cache")
    assert platform_paths.blender_config_root("win32", win_env, win_home) == \
        PureWindowsPath(r"C:\Users\ann\AppData\Roaming\Blender Foundation\Blender")
    assert platform_paths.nuke_home("win32", win_env, win_home) == PureWindowsPath(r"C:\Users\ann\.nuke")
    assert platform_paths.nuke_home("win32", {**win_env, "HOME": r"D:\home\ann"}, win_home) == PureWindowsPath(r"D:\home\ann\.nuke")
    assert platform_paths.default_venv_dir("win32", {}, win_home) == PureWindowsPath(r"C:\Users\ann\AppData\Local\Relume\venv")

    mac = PurePosixPath("/Users/ann")
    assert platform_paths.default_venv_dir("darwin", {}, mac) == mac / "Library/Application Support/Relume/venv"
    assert platform_paths.download_cache_dir("darwin", {}, mac) == mac / "Library/Caches/Relume"
    assert platform_paths.blender_config_root("darwin", {}, mac) == mac / "Library/Application Support/Blender"
    assert platform_paths.nuke_home("darwin", {}, mac) == mac / ".nuke"

    linux = PurePosixPath("/home/ann")
    assert platform_paths.default_venv_dir("linux", {}, linux) == linux / ".local/share/relume/venv"
    assert platform_paths.default_venv_dir("linux", {"XDG_DATA_HOME": "/data"}, linux) == PurePosixPath("/data/relume/venv")
    assert platform_paths.download_cache_dir("linux", {}, linux) == linux / ".cache/relume"
    assert platform_paths.blender_config_root("linux", {"XDG_CONFIG_HOME": "/cfg"}, linux) == PurePosixPath("/cfg/blender")
    assert platform_paths.venv_python(linux / "v", "linux") == linux / "v/bin/python"


def test_pip_commands_pick_torch_and_onnxruntime_builds(tmp_path: Path) -> None:
    pins = ["numpy==1.26.4", "torch==2.13.0", "onnxruntime==1.32.0"]
    linux_cpu = engine_env.pip_commands(PurePosixPath("/v/bin/python"), "linux", "cpu", pins, tmp_path)
    assert linux_cpu == [["/v/bin/python", "-m", "pip", "install", "torch==2.13.0", "--index-url", engine_env.TORCH_INDEX["linux", "cpu"]],
                         ["/v/bin/python", "-m", "pip", "install", *pins]]
    linux_cuda = engine_env.pip_commands(PurePosixPath("/v/bin/python"), "linux", "cuda", pins, tmp_path)
    assert linux_cuda == [["/v/bin/python", "-m", "pip", "install", "numpy==1.26.4", "torch==2.13.0", "onnxruntime-gpu==1.32.0"]]
    win_cuda = engine_env.pip_commands(PureWindowsPath(r"C:\v\Scripts\python.exe"), "win32", "cuda", pins, tmp_path)
    assert win_cuda[0][-2:] == ["--index-url", engine_env.TORCH_INDEX["win32", "cuda"]] and "onnxruntime-gpu==1.32.0" in win_cuda[1]
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    mac = engine_env.pip_commands(PurePosixPath("/v/bin/python"), "darwin", "cpu", pins, tmp_path)
    assert mac == [["/v/bin/python", "-m", "pip", "install", *pins],
                   ["/v/bin/python", "-m", "pip", "install", "--no-deps", "-e", str(tmp_path)],
                   ["/v/bin/python", "-m", "compileall", "-q", str(tmp_path / "engine"), str(tmp_path / "relume_host")]]
    assert engine_env.python_satisfies(">=3.11,<3.12", (3, 11)) and not engine_env.python_satisfies(">=3.11,<3.12", (3, 12))
    (tmp_path / engine_env.NO_DEPS_REQUIREMENTS).write_text("mediapipe==0.10.21\n")
    tracking = engine_env.pip_commands(PurePosixPath("/v/bin/python"), "darwin", "cpu", pins, tmp_path)
    assert tracking[1] == ["/v/bin/python", "-m", "pip", "install", "--no-deps", "-r",
                           str(tmp_path / engine_env.NO_DEPS_REQUIREMENTS)]
    assert tracking[2][-2:] == ["-e", str(tmp_path)]  # the tracking pins come before the engine itself


# ------------------------------------------------------------------------------------------
# Blender, for real (bpy 5.0.1 in a child process)


@pytest.mark.blender
def test_extension_folder_install_registers_in_bpy(home: Path, source: Path, mirror: Path) -> None:
    assert run(source, "--mirror", str(mirror), "--no-nuke") == 0
    out = bpy_check(home)
    assert "ENABLED True" in out and "PING {'FINISHED'}" in out


@pytest.mark.blender
def test_blender_command_install_and_remove(home: Path, source: Path, mirror: Path, tmp_path: Path) -> None:
    """--blender EXE: Blender's own `extension install-file` (here bpy's handler behind a stand-in binary)."""
    shim = tmp_path / "blender"
    (tmp_path / "shim.py").write_text(BLENDER_SHIM)
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'shim.py'} \"$@\"\n")
    shim.chmod(0o755)
    assert run(source, "--mirror", str(mirror), "--no-nuke", "--blender", str(shim)) == 0
    assert (ext_dir(home) / "blender_manifest.toml").is_file()
    out = bpy_check(home, "--enabled")                # enabled by the install, saved in Blender's prefs
    assert "ENABLED True" in out and "PING {'FINISHED'}" in out
    assert run(source, "--uninstall") == 0
    assert not ext_dir(home).exists() and not (home / ".relume").exists()


@pytest.mark.blender
def test_real_plugin_blender_registers(home: Path, source: Path, mirror: Path) -> None:
    """The repository's own plugin_blender/ installs into bpy 5.0.1 and registers."""
    shutil.rmtree(source / "plugin_blender")
    shutil.copytree(REPO / "plugin_blender", source / "plugin_blender")
    assert (source / "plugin_blender" / "blender_manifest.toml").is_file(), "plugin_blender/ has no manifest yet"
    assert run(source, "--mirror", str(mirror), "--no-nuke") == 0
    report = bpy_check(home)
    assert "ENABLED True" in report and "PANEL True" in report, report


def test_the_installer_needs_nothing_but_the_standard_library() -> None:
    """install.py runs before anything is installed: with site-packages off (``-S``) it still starts, and its
    package imports only the standard library, itself, relume_host and (when downloading) requests, never the engine."""
    result = subprocess.run([sys.executable, "-S", str(REPO / "install.py"), "--help"], capture_output=True, text=True,
                            timeout=60, cwd=REPO.parent)
    assert result.returncode == 0 and "--uninstall" in result.stdout, result.stderr
    for path in sorted((REPO / "relume_install").glob("*.py")):
        assert foreign_imports(path, {"relume_install", "relume_host", "requests"}) == [], path.name
