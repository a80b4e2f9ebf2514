"""The Relume_Reenact gizmo in the fake Nuke: source plate in, the target's reenacted capture out, handed to a
Relume_Relight for lighting; the engine runs for real (track, transfer, reenact on the small shared model)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from engine.io.colour import srgb_encode  # noqa: E402
from engine.io.exr import write_image  # noqa: E402
from engine.reenact.settings import TEMPORAL_SMOOTHING, TrainSettings  # noqa: E402
from fake_nuke.interpreter import colour_matrix, evaluate  # noqa: E402
from fake_nuke.scenes import aim_rotation, make_light, matrix, nuke_session, rgba  # noqa: E402,F401,F811
from relume_host.farm import read_job  # noqa: E402
from relume_nuke import plugin, reenact  # noqa: E402

FIRST, LAST = 1001, 1008
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "nuke_reenact.png"


@pytest.fixture
def source(nuke_session, small_target: dict, tmp_path: Path):
    """A Relume_Reenact whose panel is open, fed by a Read of the small target's source footage, working in
    tmp_path/work; and a Relume_Relight fed by it, lit by one directional light."""
    plate = nuke.nodes.Read()
    plate["file"].setValue(str(small_target["capture"] / "source/frames/frame.####.png"))
    plate["first"].setValue(FIRST)
    plate["last"].setValue(LAST)
    gizmo = nuke.createNode("Relume_Reenact")
    gizmo.showControlPanel()
    gizmo.setInput(0, plate)
    nuke.user_changes(gizmo["work_folder"], str(tmp_path / "work"))
    relight = nuke.createNode("Relume_Relight")
    relight.setInput(0, gizmo)
    scene = nuke.nodes.Scene()
    scene.setInput(0, make_light("DirectLight", matrix(aim_rotation([0.4, 0.5, 0.8]))))
    relight.setInput(1, scene)
    relight["render_path"].setValue(str(tmp_path / "relit" / "relit.####.exr"))
    return gizmo, plate, relight


def test_a_fresh_node_passes_the_source_through_and_follows_its_range(source) -> None:
    gizmo, plate, _ = source
    assert (gizmo["frame_first"].value(), gizmo["frame_last"].value()) == (FIRST, LAST)
    assert np.array_equal(evaluate(gizmo, 1003), evaluate(plate, 1003))
    assert "choose a trained model" in gizmo["status"].value()
    # the engine's defaults, which the .gizmo text has to repeat (a knob's default is a literal there)
    assert gizmo["train_steps"].value() == TrainSettings.steps
    assert gizmo["temporal_smoothing"].value() == TEMPORAL_SMOOTHING


@pytest.mark.slow
def test_track_reenact_and_the_relight_takes_the_capture(source, small_model: Path, tmp_path: Path) -> None:
    gizmo, _, relight = source
    work = tmp_path / "work"
    nuke.env["gui"] = True                          # Track source: a worker thread with a progress bar
    reenact.run(gizmo, "track").join(300)
    assert fake_nuke.run_main_thread() == 1
    (task,) = nuke._state["progress"]
    assert task.values[-1] == 100 and task.values == sorted(task.values)
    assert gizmo["show"].value() == "track overlay" and "tracked" in gizmo["status"].value()
    assert np.array_equal(evaluate(gizmo, 1004)[..., :3], rgba(work / "overlay/overlay.1004.png")[..., :3])

    nuke.env["gui"] = False                         # Reenact under nuke -t: blocking
    nuke.user_changes(gizmo["model"], str(small_model))
    gizmo["reenact"].execute()
    assert gizmo["show"].value() == "reenacted", gizmo["status"].value()
    tracking = rgba(work / "reenacted/tracking/frame.1002.exr")
    assert np.array_equal(evaluate(gizmo, 1002), tracking)    # a lin_rec709 capture shown in scene_linear
    gizmo["reenacted_colorspace"].setValue("ACEScg")          # as if the target had been captured in ACEScg
    reenact.refresh(gizmo)
    shown = evaluate(gizmo, 1002)
    np.testing.assert_allclose(shown[..., :3], tracking[..., :3] @ colour_matrix("ACEScg", "scene_linear").T,
                               rtol=1e-5, atol=1e-6)
    gizmo["reenacted_colorspace"].setValue("lin_rec709")
    reenact.refresh(gizmo)
    capture = str(work / "reenacted" / "capture.yaml")
    assert relight["capture"].value() == capture and "12 stage lights" in relight["status"].value()
    relight["render_local"].execute()               # the relight's own controls light the reenacted target
    written = rgba(tmp_path / "relit" / "relit.1005.exr")
    assert np.array_equal(evaluate(relight, 1005), written) and written[..., :3].max() > 0.0

    other = nuke.createNode("Relume_Relight")       # connected later: it finds the capture itself
    other.setInput(0, gizmo)
    assert other["capture"].value() == capture


@pytest.mark.slow
def test_farm_job_names_dependencies_and_runs_in_order(source, small_model: Path, tmp_path: Path) -> None:
    gizmo, _, relight = source
    nuke.user_changes(gizmo["model"], str(small_model))
    gizmo["chunk_size"].setValue(5)
    gizmo["temporal_smoothing"].setValue(0.3)
    gizmo["write_farm"].execute()
    farm = tmp_path / "work" / "farm"
    job = json.loads((farm / "reenact.job.json").read_text())
    names = [task["name"] for task in job["tasks"]]
    assert names == ["track", "transfer", "reenact", f"relight {relight.name()} 1001-1005",
                     f"relight {relight.name()} 1006-1008"]
    assert [task["depends"] for task in job["tasks"]] == [[], ["track"], ["transfer"], ["reenact"], ["reenact"]]
    lines = (farm / "reenact.commands.txt").read_text().splitlines()
    assert len(lines) == 5
    tasks = read_job(str(farm / "reenact.job.json"))                          # what a farm submitter reads
    assert [(t.name, list(t.command), list(t.depends)) for t in tasks] == [
        (task["name"], shlex.split(line), task["depends"]) for task, line in zip(job["tasks"], lines)]
    assert job["engine"] == "relume" and all(line.startswith("relume -q ") for line in lines)
    worker = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    worker.pop("RELUME_ENGINE_PYTHON", None)
    for line in lines:                              # farm nodes, in dependency order
        done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=600, env=worker)
        assert done.returncode == 0, (line, done.stderr[-2000:])
    reenacted = (tmp_path / "work" / "reenacted" / "capture.yaml").read_text()
    assert "temporal_smoothing: 0.3" in reenacted                       # the knob reached relume reenact
    assert sorted(p.name for p in (tmp_path / "relit").glob("relit.*.exr")) == [
        f"relit.{f}.exr" for f in range(FIRST, LAST + 1)]


@pytest.mark.slow
def test_an_empty_model_folder_is_trained_first(source, small_target: dict, tmp_path: Path) -> None:
    gizmo, _, relight = source
    model = tmp_path / "model"
    nuke.user_changes(gizmo["model"], str(model))
    nuke.user_changes(gizmo["target_capture"], str(small_target["capture"] / "capture.yaml"))
    gizmo["train_steps"].setValue(2)
    gizmo["write_farm"].execute()
    job = json.loads((tmp_path / "work" / "farm" / "reenact.job.json").read_text())
    depends = {task["name"]: task["depends"] for task in job["tasks"]}
    assert list(depends)[:5] == ["track", "track target", "train", "transfer", "reenact"]
    assert depends["train"] == ["track target"] and depends["transfer"] == ["track", "track target"]
    assert depends["reenact"] == ["transfer", "train"]
    train = next(task["command"] for task in job["tasks"] if task["name"] == "train")
    assert train[train.index("--steps") + 1] == "2" and "--resume" not in train
    gizmo["train"].execute()                        # the Train button (nuke -t: blocking)
    assert "trained" in gizmo["status"].value(), gizmo["status"].value()
    config = json.loads((model / "config.json").read_text())
    assert config["track"] == str(tmp_path / "work" / "target.track") and config["training"]["steps"] == 2
    assert reenact.steps(gizmo, "train")[1].arguments[-1] == "--resume"     # a second Train continues
    assert [s.name for s in reenact.steps(gizmo, "reenact")] == ["track", "transfer", "reenact"]


def test_bad_input_is_said_in_the_status(source, tmp_path: Path) -> None:
    gizmo, plate, _ = source
    gizmo["reenact"].execute()
    assert "choose the trained model folder" in gizmo["status"].value()
    gizmo["train"].execute()
    assert "choose the trained model folder" in gizmo["status"].value()
    nuke.user_changes(gizmo["model"], str(tmp_path / "new_model"))
    gizmo["train"].execute()
    assert "choose the target's capture.yaml to train on" in gizmo["status"].value()
    nuke.user_changes(gizmo["model"], str(tmp_path))
    gizmo["reenact"].execute()
    assert f"{tmp_path}: not a trained model folder" in gizmo["status"].value()
    gizmo.setInput(0, None)
    gizmo["track_source"].execute()
    assert "connect a Read of the source performer's footage" in gizmo["status"].value()
    missing = nuke.nodes.Read()
    missing["file"].setValue(str(tmp_path / "nothing" / "plate.####.png"))
    gizmo.setInput(0, missing)
    gizmo["track_source"].execute()                 # the engine's own message reaches the status
    assert "plate.####.png" in gizmo["status"].value()
    assert not (tmp_path / "work" / "source.track").exists()


def test_the_menu_makes_a_reenact_feeding_a_relight(nuke_session) -> None:
    plugin.create_reenact()
    (relight,) = nuke.allNodes("Relume_Relight")
    (gizmo,) = nuke.allNodes("Relume_Reenact")
    assert relight.input(0) is gizmo


@pytest.mark.skipif(not os.environ.get("RELUME_DOCS_REENACT"), reason="set RELUME_DOCS_REENACT to a reenact benchmark "
                    "folder (benchmarks/reenact.py --work) to draw the README picture")
def test_readme_picture(nuke_session, tmp_path: Path) -> None:
    """The README picture: what the node graph shows at frame 1020 of the benchmark's source footage (frames
    1016-1024 tracked): the plate, the track overlay, the reenacted target (all stage lights), the
    Relume_Relight fed by it under a key light."""
    bench = Path(os.environ["RELUME_DOCS_REENACT"])
    plate = nuke.nodes.Read()
    plate["file"].setValue(str(bench / "capture/source/frames/frame.####.png"))
    plate["first"].setValue(1016)
    plate["last"].setValue(1024)
    gizmo = nuke.createNode("Relume_Reenact")
    gizmo.showControlPanel()
    gizmo.setInput(0, plate)
    nuke.user_changes(gizmo["work_folder"], str(tmp_path / "work"))
    nuke.user_changes(gizmo["model"], str(bench / "model_networkk2semantic"))
    relight = nuke.createNode("Relume_Relight")
    relight.setInput(0, gizmo)
    scene = nuke.nodes.Scene()
    scene.setInput(0, make_light("DirectLight", matrix(aim_rotation([0.6, 0.4, 0.7])), color=[1.0, 0.85, 0.7]))
    relight.setInput(1, scene)
    gizmo["reenact"].execute()
    assert gizmo["show"].value() == "reenacted", gizmo["status"].value()
    from relume_nuke import live

    live.QUEUE.wait()
    fake_nuke.run_main_thread()
    tiles = [evaluate(plate, 1020)]
    for shown in ("track overlay", "reenacted"):
        nuke.user_changes(gizmo["show"], shown)
        tiles.append(evaluate(gizmo, 1020))
    tiles.append(evaluate(relight, 1020))
    def exposed(t: np.ndarray) -> np.ndarray:        # linear tiles: their 99th percentile to 0.9, over grey
        scale = 0.9 / max(1e-6, float(np.percentile(t[..., :3][t[..., 3] > 0.5], 99)))
        return srgb_encode(t[..., :3] * scale + 0.18 * (1.0 - t[..., 3:]))

    encoded = [tiles[0][..., :3], tiles[1][..., :3]] + [exposed(t) for t in tiles[2:]]
    sheet = np.concatenate([np.clip(t, 0.0, 1.0) for t in encoded], axis=1).repeat(2, 0).repeat(2, 1)
    write_image(DOCS_IMAGE, sheet.astype(np.float32), "uint8")
