"""Host contracts the engine and both adapters must read the same way: where config.json is, which Python runs
the engine and with what environment, how an output pattern's frame field expands.

The adapters cannot import the engine, so each carries its own few lines for these; this test fails as soon as
one drifts (issue 14: the Nuke plug-in once ignored ``$RELUME_HOME`` and the config's ``repo``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.paths import config_path as engine_config_path
from engine.relight.job import frame_output_path
from support.blender_core import core_module

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugin_nuke"))

from relume_nuke import batch as nuke_batch  # noqa: E402
from relume_nuke import config as nuke_config  # noqa: E402

blender = core_module("engine_location")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Relume home with a config.json naming this Python and a repo; host Python variables set."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("RELUME_HOME", str(tmp_path / "studio"))
    monkeypatch.delenv("RELUME_ENGINE_PYTHON", raising=False)
    for variable in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE"):
        monkeypatch.setenv(variable, "host-value")
    folder = tmp_path / "studio"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"engine_python": sys.executable, "repo": str(tmp_path / "repo")}))
    return folder


def test_config_json_is_found_in_one_place(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for relume_home in (str(home), ""):
        if relume_home:
            monkeypatch.setenv("RELUME_HOME", relume_home)
        else:
            monkeypatch.delenv("RELUME_HOME")
        paths = {Path(engine_config_path()), Path(nuke_config.config_path()), Path(blender.config_path())}
        assert len(paths) == 1, paths


@pytest.mark.parametrize("override", [False, True], ids=["config", "RELUME_ENGINE_PYTHON"])
def test_both_adapters_run_the_same_engine_with_the_same_environment(home: Path, override: bool,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    if override:
        monkeypatch.setenv("RELUME_ENGINE_PYTHON", sys.executable)     # an interpreter that exists
    assert nuke_config.engine_python() == str(blender.find_engine().python)
    nuke_env, blender_env = nuke_config.child_environment(), blender.find_engine().environment()
    assert nuke_env == blender_env
    assert nuke_env["PYTHONPATH"] == str(tmp_path / "repo")             # the config's repo, in both
    assert not {"PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE"} & set(nuke_env)
    assert nuke_config.HOST_PYTHON_VARIABLES == blender.HOST_PYTHON_VARIABLES


@pytest.mark.parametrize("pattern, frame", [
    ("/shots/relit.####.exr", 7), ("/shots/relit.%04d.exr", 1001), ("/shots/relit.%d.exr", 12),
    ("/shots/shot#1/relit.####.exr", 1001), ("/shots/take%02d/relit.%05d.exr", 3), ("/shots/a.##.b.####.exr", 42),
    ("/shots/still.exr", 1001),
])
def test_frame_fields_expand_the_same_way(pattern: str, frame: int) -> None:
    assert Path(nuke_batch.frame_path(pattern, frame)) == frame_output_path(pattern, frame)
