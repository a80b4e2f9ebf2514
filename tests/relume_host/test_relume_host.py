"""relume_host, the contracts the engine and both adapters share: config discovery, the engine's command and
environment, frame fields, atomic writes. Standard library only and Python 3.7 syntax (Nuke 13's Python)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import relume_host
from relume_host import home
from relume_host.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from relume_host.engine import EngineLocation, EngineNotFound, find_engine
from relume_host.errors import OutputError
from relume_host.frames import frame_path, has_frame_field, output_stem
from support.host_python import foreign_imports

PACKAGE = Path(relume_host.__file__).parent
REPO = PACKAGE.parent


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_python_37_syntax_and_standard_library_only(path: Path) -> None:
    assert foreign_imports(path, {"relume_host"}) == []


def test_relume_home_config_and_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RELUME_HOME", raising=False)
    assert home.relume_home() == tmp_path / ".relume"
    monkeypatch.setenv("RELUME_HOME", "  ")                              # blank counts as unset
    assert home.config_path() == tmp_path / ".relume" / "config.json"
    assert home.assets_dir({"RELUME_HOME": "/studio/relume"}) == Path("/studio/relume/assets")
    assert home.config_path({"RELUME_HOME": "~/r"}) == tmp_path / "r" / "config.json"


def test_engine_is_the_hosts_setting_then_the_variable_then_config(tmp_path: Path) -> None:
    env = {"RELUME_HOME": str(tmp_path), "HOME": str(tmp_path)}
    with pytest.raises(EngineNotFound, match=r"engine Python: not set: set it in Prefs, run install.py \(it writes "):
        find_engine(setting="Prefs", env=env)
    (tmp_path / "config.json").write_text(json.dumps({"engine_python": sys.executable, "repo": str(REPO),
                                                      "device": "cpu"}))
    found = find_engine(env=env)
    assert found == EngineLocation(Path(sys.executable), REPO, "cpu")
    assert found.command("serve") == [sys.executable, "-P", "-m", "engine", "serve"]
    assert found.environment({"PYTHONHOME": "/blender", "PYTHONSTARTUP": "x", "HOME": "/h"}) == {
        "HOME": "/h", "PYTHONPATH": str(REPO)}
    other = tmp_path / "other_python"
    other.write_text("")
    assert find_engine(env={**env, "RELUME_ENGINE_PYTHON": str(other)}).python == other
    assert find_engine(str(other), "/r", "cuda", env=env) == EngineLocation(other, Path("/r"), "cuda")
    with pytest.raises(EngineNotFound, match="/missing/python: engine Python not found \\(set in Prefs\\)"):
        find_engine("/missing/python", setting="Prefs", env=env)
    with pytest.raises(EngineNotFound, match="/gone: engine Python not found \\(set in RELUME_ENGINE_PYTHON\\)"):
        find_engine(env={**env, "RELUME_ENGINE_PYTHON": "/gone"})
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EngineNotFound, match=r"config.json: unreadable .*run install.py again"):
        find_engine(env=env)


def test_the_engine_never_imports_from_the_hosts_working_folder(tmp_path: Path) -> None:
    """An ``engine/`` package (or a ``yaml.py``) in the folder the host was started from is not run."""
    impostor = tmp_path / "engine"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "__main__.py").write_text("print('IMPOSTOR')\n")
    (tmp_path / "yaml.py").write_text("raise SystemExit('IMPOSTOR yaml')\n")
    location = EngineLocation(Path(sys.executable))
    result = subprocess.run(location.command("--help"), cwd=tmp_path, env=location.environment(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "IMPOSTOR" not in result.stdout + result.stderr
    assert "relume" in result.stdout


@pytest.mark.parametrize("pattern, frame, expected", [
    ("/shots/relit.####.exr", 7, "/shots/relit.0007.exr"),
    ("/shots/relit.%04d.exr", 1001, "/shots/relit.1001.exr"),
    ("/shots/relit.%d.exr", 12, "/shots/relit.12.exr"),
    ("/shots/shot#1/relit.####.exr", 1001, "/shots/shot#1/relit.1001.exr"),     # a folder keeps its '#'
    ("/shots/take%02d/relit.%05d.exr", 3, "/shots/take%02d/relit.00003.exr"),
    ("/shots/a.##.b.####.exr", 42, "/shots/a.42.b.0042.exr"),
    ("/shots/a.##.%04d.exr", 5, "/shots/a.05.%04d.exr"),                        # '#' wins over printf
    ("/shots/still.exr", 1001, "/shots/still.exr"),
    ("relit.###.exr", -4, "relit.-04.exr"),
])
def test_frame_fields(pattern: str, frame: int, expected: str) -> None:
    assert frame_path(pattern, frame) == expected
    assert has_frame_field(pattern) == (expected != pattern)


def test_output_stem() -> None:
    assert output_stem("/shots/relit.####.exr") == "relit"
    assert output_stem("/shots/relit_%04d.exr") == "relit"
    assert output_stem("/shots/####.exr") == "relume"


def test_atomic_writes_leave_the_old_file_or_the_whole_new_one(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "lights.json"
    write_text_atomic(target, "one")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert target.read_text() == "one" and sorted(p.name for p in target.parent.iterdir()) == ["lights.json"]
    write_bytes_atomic(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two" and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="x.exr: cannot write in .*file \\(not a folder\\)"):
        write_bytes_atomic(tmp_path / "file" / "x.exr", b"")
