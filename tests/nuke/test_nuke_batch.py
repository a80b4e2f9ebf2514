"""The batch path: the engine renders the gizmo's frame range (locally with a progress task, or as
farm chunks whose command lines are run here for real) and the gizmo reads the result."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from fake_nuke.interpreter import evaluate  # noqa: E402
from fake_nuke.scenes import (  # noqa: E402,F401,F811
    aim_rotation,
    assert_half_close,
    make_light,
    matrix,
    nuke_session,
    relight_node,
    rgba,
)
from relume_host.farm import read_job  # noqa: E402
from relume_nuke import batch, graph  # noqa: E402

FRAMES = (1001, 1002, 1003)


@pytest.fixture
def lit_gizmo(nuke_session, make_capture, tmp_path: Path):
    """A gizmo on a 3-frame, 10-light capture, lit by one directional light, output in tmp_path."""
    capture = make_capture(frames=FRAMES, lights=10, height=12, width=16)
    gizmo = relight_node(capture.folder)
    scene = nuke.nodes.Scene()
    scene.setInput(0, make_light("DirectLight", matrix(aim_rotation(capture.directions[2] + capture.directions[5]))))
    gizmo.setInput(1, scene)
    gizmo["render_path"].setValue(str(tmp_path / "renders" / "relit.####.exr"))
    return gizmo


def test_frame_paths_and_chunks() -> None:
    assert batch.frame_path("/o/relit.####.exr", 7) == "/o/relit.0007.exr"
    assert batch.frame_path("/o/relit.%05d.exr", 1001) == "/o/relit.01001.exr"
    assert batch.output_stem("/o/relit.####.exr") == "relit"
    assert batch.chunks(1001, 1010, 4) == [(1001, 1004), (1005, 1008), (1009, 1010)]
    assert batch.chunks(5, 5, 0) == [(5, 5)]


def test_default_output_sits_beside_the_script(nuke_session, make_capture) -> None:
    gizmo = relight_node(make_capture(lights=6).folder)
    nuke.root()["name"].setValue("/shows/abc/comp/sh010_comp_v003.nk")
    assert batch.output_pattern(gizmo) == f"/shows/abc/comp/relume/{gizmo.name()}/{gizmo.name()}.####.exr"


def test_local_render_in_terminal_mode_is_read_back(lit_gizmo, tmp_path: Path, capsys) -> None:
    assert (lit_gizmo["frame_first"].value(), lit_gizmo["frame_last"].value()) == (1001, 1003)
    nuke.user_changes(lit_gizmo["mode"], "engine render")  # nothing rendered yet: said so
    assert "no engine render yet" in lit_gizmo["status"].value()
    nuke.user_changes(lit_gizmo["mode"], "live")
    live = [evaluate(lit_gizmo, frame) for frame in FRAMES]
    lit_gizmo["render_local"].execute()  # the "Render with engine" button
    assert "100%" in capsys.readouterr().out
    assert lit_gizmo["mode"].value() == "engine render"
    assert nuke.toNode(f"{lit_gizmo.name()}.relume_switch")["which"].value() == graph.SHOW_ENGINE
    assert nuke.toNode(f"{lit_gizmo.name()}.relume_engine_read")._reloads >= 1  # re-read after the render
    for frame, live_image in zip(FRAMES, live):
        written = rgba(tmp_path / "renders" / f"relit.{frame}.exr")
        assert np.array_equal(evaluate(lit_gizmo, frame), written)  # the gizmo shows the engine's frames
        assert_half_close(live_image, written)  # and they match the live graph
    lights = yaml.safe_load((tmp_path / "renders" / "relit.lights.yaml").read_text())["lights"]
    assert [entry["type"] for entry in lights] == ["sun"]

    saved = {name: lit_gizmo[name].value() for name in ("capture", "capture_json", "weights_json", "mode",
                                                         "render_path", "frame_first", "frame_last")}
    fake_nuke.reset()  # the script is reopened: the engine render is shown again
    reopened = nuke.nodes.Relume_Relight(**saved)
    assert np.array_equal(evaluate(reopened, 1002), rgba(tmp_path / "renders" / "relit.1002.exr"))


def test_gui_render_runs_in_a_thread_with_a_progress_task(lit_gizmo, tmp_path: Path) -> None:
    nuke.env["gui"] = True
    worker = batch.render_local(lit_gizmo)
    assert lit_gizmo["mode"].value() == "live"  # nothing changes until the main thread runs the result
    worker.join(120)
    assert fake_nuke.run_main_thread() == 1
    (task,) = nuke._state["progress"]
    assert task.values[-1] == 100 and task.values == sorted(task.values)
    assert lit_gizmo["mode"].value() == "engine render"
    assert "engine render 1001-1003" in lit_gizmo["status"].value()


def test_cancelled_render_stops_the_engine_and_says_so(lit_gizmo, tmp_path: Path) -> None:
    nuke.env["gui"] = True
    nuke._state["cancel"] = True  # the artist presses Cancel on the progress bar
    batch.render_local(lit_gizmo).join(120)
    fake_nuke.run_main_thread()
    assert "render cancelled" in lit_gizmo["status"].value()
    assert nuke._state["messages"] and lit_gizmo["mode"].value() == "live"


def farm_worker_environment() -> dict:
    """A farm worker's environment: the engine's environment on PATH (its ``relume`` command), and no
    RELUME_ENGINE_PYTHON or config of the artist's machine."""
    env = {k: v for k, v in os.environ.items() if k not in ("RELUME_ENGINE_PYTHON", "RELUME_HOME", "PYTHONPATH")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def test_farm_chunks_run_as_written(lit_gizmo, tmp_path: Path) -> None:
    lit_gizmo["chunk_size"].setValue(2)
    lit_gizmo["write_farm"].execute()
    job = json.loads((tmp_path / "renders" / "farm" / "relit.job.json").read_text())
    assert [chunk["frames"] for chunk in job["chunks"]] == ["1001-1002", "1003-1003"]
    assert job["engine"] == "relume" and job["output"].endswith("relit.####.exr")
    text = (tmp_path / "renders" / "farm" / "relit.commands.txt").read_text()
    assert sys.executable not in text and os.path.dirname(sys.executable) not in text   # resolved on the worker
    lines = text.splitlines()
    assert len(lines) == 2 and all(line.startswith("relume -q relight ") for line in lines)
    tasks = read_job(str(tmp_path / "renders" / "farm" / "relit.job.json"))     # what a farm submitter reads
    assert [(t.name, list(t.command)) for t in tasks] == [(f"relight {c['frames']}", shlex.split(line))
                                                          for c, line in zip(job["chunks"], lines)]
    result = subprocess.run(shlex.split(lines[1]), capture_output=True, text=True, timeout=300,
                            env=farm_worker_environment(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "renders" / "relit.1003.exr").is_file()
    assert not (tmp_path / "renders" / "relit.1001.exr").exists()
    assert_half_close(evaluate(lit_gizmo, 1003), rgba(tmp_path / "renders" / "relit.1003.exr"))


def test_paths_pass_through_nukes_filename_filters(nuke_session, make_capture, tmp_path: Path) -> None:
    """A script names paths as the studio does (here ``/site/...``); a filename filter maps them to this
    machine. The script keeps its names; the Reads, the engine and the farm job get the mapped ones."""
    capture = make_capture(frames=FRAMES, lights=8, height=12, width=16)
    nuke.addFilenameFilter(lambda path: path[len("/site"):] if path.startswith("/site/") else None)
    gizmo = relight_node(Path("/site" + str(capture.folder)))
    assert graph.graph_light_count(gizmo) == 8, gizmo["status"].value()
    assert gizmo[graph.olat_knob(0)].value().startswith("/site/")          # the script's name
    gizmo.setInput(1, make_light("DirectLight", matrix(aim_rotation(capture.directions[3]))))
    fake_nuke.run_main_thread()
    live = evaluate(gizmo, 1002)                                             # the Reads open mapped paths
    assert live is not None and live[..., :3].max() > 0
    gizmo["render_path"].setValue("/site" + str(tmp_path / "renders" / "relit.####.exr"))
    gizmo["write_farm"].execute()
    farm = tmp_path / "renders" / "farm"
    job = json.loads((farm / "relit.job.json").read_text())
    assert "/site/" not in (farm / "relit.commands.txt").read_text() and job["capture"] == str(capture.folder)
    result = subprocess.run(shlex.split((farm / "relit.commands.txt").read_text().splitlines()[0]),
                            capture_output=True, text=True, timeout=300, env=farm_worker_environment(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_half_close(live, rgba(tmp_path / "renders" / "relit.1002.exr"))


def test_render_without_lights_is_refused(nuke_session, make_capture) -> None:
    gizmo = relight_node(make_capture(lights=6).folder)
    gizmo["render_local"].execute()
    assert "no lights connected" in gizmo["status"].value()
    gizmo["render_path"].setValue("/tmp/no_frame_field.exr")
    gizmo.setInput(1, make_light("DirectLight", matrix()))
    gizmo["render_local"].execute()
    assert "needs a frame number field" in gizmo["status"].value()


def test_the_engine_never_imports_from_nukes_working_folder(nuke_session, tmp_path: Path, monkeypatch) -> None:
    """An ``engine/`` package (or a ``yaml.py``) in the folder Nuke was started from is not run."""
    from relume_nuke import engine_cli

    impostor = tmp_path / "engine"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "__main__.py").write_text("print('IMPOSTOR')\n")
    (tmp_path / "yaml.py").write_text("raise SystemExit('IMPOSTOR yaml')\n")
    monkeypatch.chdir(tmp_path)
    output = engine_cli.run_engine("--help")
    assert "IMPOSTOR" not in output and "relume" in output

