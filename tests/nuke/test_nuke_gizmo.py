"""Static checks of the Nuke side: every .gizmo parses (nkparser) with the right inputs, knobs and
callbacks; plugin_nuke is Python 3.10 syntax and standard library only; init.py and menu.py set
up paths, callbacks and menus; the engine interpreter is found; capture paths become Nuke paths.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from fake_nuke.gizmo_file import KNOB_TYPES, nuke_inputs, read_definition  # noqa: E402
from fake_nuke.interpreter import evaluate  # noqa: E402
from fake_nuke.scenes import nuke_session  # noqa: E402,F401,F811
from relume_nuke import engine_cli  # noqa: E402
from relume_nuke.capture import CaptureInfo, nuke_sequence_path  # noqa: E402
from support.host_python import foreign_imports  # noqa: E402

sys.path.insert(0, str(fake_nuke.GIZMOS / "src"))
import relight_gizmo  # noqa: E402

GIZMOS = sorted(fake_nuke.GIZMOS.glob("*.gizmo"))
RELIGHT = fake_nuke.GIZMOS / "Relume_Relight.gizmo"
CALL = re.compile(r"\b(relume_nuke(?:\.\w+)+)\(")
# Classes the gizmos may contain (Nuke's own nodes).
NUKE_CLASSES = {"Input", "Output", "Read", "Switch", "Multiply", "Merge2", "Copy", "Dot", "NoOp", "OCIOColorSpace"}
REQUIRED_KNOBS = {"capture": "File", "rotate": "Double", "strength": "Double", "exposure": "Double",
                  "frame_first": "Int", "frame_last": "Int", "preview": "PyScript", "render_local": "PyScript",
                  "mode": "Enumeration", "subject": "XYZ", "status": "Text", "capture_json": "String",
                  "weights_json": "String"}


def test_there_are_gizmos() -> None:
    assert RELIGHT in GIZMOS


@pytest.mark.parametrize("path", GIZMOS, ids=lambda p: p.name)
def test_gizmo_parses_and_names_only_existing_callbacks(path: Path) -> None:
    definition = read_definition(path)  # raises on nkparser errors or a missing end_group
    # stamped by the oldest Nuke supported, so Nuke 13 opens it without a "saved by a newer version" warning
    assert definition.script.nuke_version and definition.script.nuke_version.split()[0] == "13.0"
    assert {n.class_name for n in definition.children} <= NUKE_CLASSES
    names = [n.name for n in definition.children]
    assert len(names) == len(set(names)) and all(names)
    knob_names = [k.name for k in definition.user_knobs]
    assert len(knob_names) == len(set(knob_names))
    assert all(k.type_id in KNOB_TYPES for k in definition.user_knobs)
    scripts = [definition.builtin.get("onCreate", ""), definition.builtin.get("knobChanged", "")]
    scripts += [k.script for k in definition.user_knobs if k.type_id == 22]
    calls = [name for script in scripts for name in CALL.findall(script or "")]
    assert calls, "the gizmo calls no relume_nuke code"
    for script in scripts:
        assert not re.search(r"[\[\]$]", script or ""), f"TCL would expand {script!r}"
    for dotted in calls:
        module_name, function = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module_name), function)), dotted


def test_relight_gizmo_inputs_knobs_and_internal_wiring() -> None:
    definition = read_definition(RELIGHT)
    assert definition.builtin["inputs"] == "3"
    inputs = {n.name: int(n.get("number", "0")) for n in definition.children if n.class_name == "Input"}
    assert inputs == {"plate": 0, "lights": 1, "env": 2}
    knobs = {k.name: KNOB_TYPES[k.type_id] for k in definition.user_knobs}
    assert {name: knobs.get(name) for name in REQUIRED_KNOBS} == REQUIRED_KNOBS
    mode = next(k for k in definition.user_knobs if k.name == "mode")
    assert mode.items == ["live", "engine render"]
    hidden = {k.name for k in definition.user_knobs if "+INVISIBLE" in k.flags}
    slots = {k.name for k in definition.user_knobs if re.fullmatch(r"(w|olat)_\d{3}", k.name)}
    assert hidden - slots == {"capture_json", "weights_json", "light_count", "capture_first", "capture_last",
                              "matte_file", "matte_channel", "failed", "error_file"}
    assert len(slots) == 2 * relight_gizmo.SLOTS and slots <= hidden
    switch = next(n for n in definition.children if n.name == "relume_switch")
    assert [source.name for source in nuke_inputs(switch)] == ["plate", "relume_engine_read", "relume_live"]
    colour = next(n for n in definition.children if n.name == "relume_colour")     # one conversion, after
    assert colour.class_name == "OCIOColorSpace" and nuke_inputs(colour) == [switch]  # the sum (see test_nuke_live)
    failed = next(n for n in definition.children if n.name == "relume_failed")     # the error state (state.py)
    error = next(n for n in definition.children if n.name == "relume_error")
    assert nuke_inputs(failed) == [colour, error] and failed.get("which") == "{{parent.failed}}"
    assert error.get("file") == '"\\[value parent.error_file]"' and error.get("on_error") == "error"
    output = next(n for n in definition.children if n.class_name == "Output")
    assert nuke_inputs(output) == [failed]


def test_checked_in_gizmo_is_the_generators_output() -> None:
    assert RELIGHT.read_text(encoding="utf-8") == relight_gizmo.render(), "run python gizmos/src/relight_gizmo.py"


def test_live_graph_is_static_and_expression_driven() -> None:
    """Every slot reads its file, frames, weight and disabled state from the gizmo's knobs, and the fixed
    Merge tree sums every slot exactly once with slot 0 on every B side (its alpha is the output's)."""
    definition = read_definition(RELIGHT)
    nodes = {n.name: n for n in definition.children}
    for i in range(relight_gizmo.SLOTS):
        read, multiply = nodes[f"relume_olat_{i:03d}"], nodes[f"relume_w_{i:03d}"]
        assert read.get("file") == f'"\\[value parent.olat_{i:03d}]"' and read.get("raw") == "true"
        assert read.get("first") == "{{parent.capture_first}}" and read.get("last") == "{{parent.capture_last}}"
        weight = f"parent.w_{i:03d}"
        assert read.get("disable") == ("{{parent.light_count<=0}}" if i == 0 else
                                       f"{{{{parent.light_count<={i}||({weight}.r==0&&{weight}.g==0&&{weight}.b==0)}}}}")
        assert multiply.get("value") == f"{{{{{weight}.r}} {{{weight}.g}} {{{weight}.b}} 1}}"
        assert nuke_inputs(multiply) == [read] and multiply.get("channels") == "rgb"
    live = nodes["relume_live"]
    root = nuke_inputs(live)[0]
    leaves, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.class_name == "Merge2":
            assert node.get("operation") == "plus" and node.get("output") == "rgb"
            stack.extend(reversed(nuke_inputs(node)))  # B first
        else:
            leaves.append(node.name)
    assert sorted(leaves) == sorted(f"relume_w_{i:03d}" for i in range(relight_gizmo.SLOTS))
    node = root
    while node.class_name == "Merge2":
        node = nuke_inputs(node)[0]
    assert node.name == "relume_w_000"
    assert [n.name for n in nuke_inputs(live)] == [root.name, "relume_matte_alpha", "relume_matte_red"]
    assert live.get("which") == "{{parent.matte_channel}}"


# Shapes of Nuke-written scripts (see fake_nuke/gizmo_file.py for where they were seen): what the test
# parser must wire exactly as Nuke does, the top of the stack becoming input 0.
NUKE_WRITTEN = """Root {
 inputs 0
}
Roto {
 inputs 0
 name Roto1
}
Blur {
 name Blur1
}
Constant {
 inputs 0
 name Constant1
}
CheckerBoard2 {
 inputs 0
 name CheckerBoard1
}
Grade {
 name Grade1
}
Keymix {
 inputs 3
 name Keymix1
}
Camera2 {
 inputs 0
 name Camera1
}
Card2 {
 inputs 0
 name Card1
}
push 0
ScanlineRender {
 inputs 3
 name ScanlineRender1
}
"""


def test_test_parser_wires_inputs_in_nukes_stack_order() -> None:
    import nkparser

    nodes = {node.name: node for node in nkparser.Script.from_string(NUKE_WRITTEN).nodes}
    names = [[None if n is None else n.name for n in nuke_inputs(nodes[name])] for name in ("Keymix1", "ScanlineRender1")]
    assert names[0] == ["Grade1", "Constant1", "Blur1"]          # B, A, mask
    assert names[1] == [None, "Card1", "Camera1"]                 # bg (push 0), obj/scn, cam


def test_a_node_without_a_capture_passes_the_plate_through_pixel_for_pixel(nuke_session, tmp_path: Path) -> None:
    from engine.io.exr import write_image

    rng = np.random.default_rng(7)
    plate_pixels = rng.uniform(0.0, 4.0, (12, 16, 4)).astype(np.float32)
    write_image(tmp_path / "plate.1001.exr", plate_pixels, "float")
    plate = nuke.nodes.Read(file=str(tmp_path / "plate.####.exr"), first=1001, last=1001)
    gizmo = nuke.createNode("Relume_Relight")
    gizmo.setInput(0, plate)
    assert np.array_equal(evaluate(gizmo, 1001), plate_pixels)


def test_gizmo_instantiates_with_its_defaults(nuke_session) -> None:
    gizmo = nuke.createNode("Relume_Relight")
    assert gizmo.Class() == "Relume_Relight"
    assert gizmo["strength"].value() == 1.0 and gizmo["live_update"].value() is True
    assert gizmo["method"].value() == "barycentric" and gizmo["mode"].value() == "live"
    assert gizmo["status"].value() == "choose a capture.yaml"
    assert nuke.toNode(f"{gizmo.name()}.relume_switch")["which"].value() == 0  # plate passes through


def python_files() -> list:
    return sorted(fake_nuke.PLUGIN.rglob("*.py"))


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(fake_nuke.PLUGIN)))
def test_plugin_code_is_python_37_syntax_and_standard_library_only(path: Path) -> None:
    """Nuke 13 runs Python 3.7, 14 3.9, 15 3.10, 16 3.11, none with numpy: plugin_nuke must parse
    as Python 3.7 and import only the standard library, nuke, Qt (PySide2/PySide6), relume_host and itself."""
    assert foreign_imports(path, {"nuke", "PySide2", "PySide6", "relume_host", "relume_nuke"}) == []


def test_init_and_menu_register_paths_callbacks_and_menus(nuke_session) -> None:
    fake_nuke.reset(gui=True)
    assert str(fake_nuke.GIZMOS) in nuke.pluginPath()
    assert str(fake_nuke.PLUGIN / "icons") in nuke.pluginPath()
    watched = {entry[3] for entry in nuke._state["knob_changed"]}
    assert {"DirectLight", "Spotlight", "Light2", "Environment", "Scene", "Read"} <= watched
    toolbar = nuke.menu("Nodes").findItem("Relume")
    assert toolbar.icon == "relume.png"
    command = toolbar.findItem("Relume Relight")
    exec(command.script(), {"nuke": nuke})
    assert [n.Class() for n in nuke.allNodes()] == ["Relume_Relight"]
    for icon in (toolbar.icon, command.icon):
        assert (fake_nuke.PLUGIN / "icons" / icon).is_file()
    main = nuke.menu("Nuke").findItem("Relume")
    assert [item.name for item in main.items] == ["Relume Relight", "Relume Reenact", "Light-stage preview of selected",
                                                  "Engine..."]
    assert [item.name for item in toolbar.items] == ["Relume Relight", "Relume Reenact"]
    exec(main.findItem("Light-stage preview of selected").script(), {"nuke": nuke})  # nothing selected
    exec(main.findItem("Engine...").script(), {"nuke": nuke})
    assert nuke._state["messages"] == ["Select a Relume_Relight node first.", f"Relume engine Python:\n{sys.executable}"]


def test_engine_interpreter_from_env_or_installer_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The gizmo runs the engine relume_host finds ($RELUME_ENGINE_PYTHON, else config.json), and says where
    to set it when there is none."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RELUME_ENGINE_PYTHON", raising=False)
    monkeypatch.delenv("RELUME_HOME", raising=False)
    with pytest.raises(engine_cli.EngineError, match=re.escape(str(tmp_path / ".relume" / "config.json"))):
        engine_cli.engine()
    (tmp_path / ".relume").mkdir()
    installed, farm = tmp_path / "opt" / "python", tmp_path / "farm" / "python"
    for python in (installed, farm):
        python.parent.mkdir()
        python.write_text("")
    (tmp_path / ".relume" / "config.json").write_text(json.dumps({"format": 1, "engine_python": str(installed)}))
    assert engine_cli.engine().python == installed
    monkeypatch.setenv("RELUME_ENGINE_PYTHON", str(farm))
    assert engine_cli.engine_command(engine_cli.engine(), "weights") == [str(farm), "-P", "-m", "engine", "-q", "weights"]
    monkeypatch.setenv("PYTHONPATH", "/nuke/lib/python3.10")
    monkeypatch.setenv("PYTHONHOME", "/nuke")
    environment = engine_cli.popen_options(engine_cli.engine())["env"]
    assert "PYTHONPATH" not in environment and "PYTHONHOME" not in environment and environment["HOME"] == str(tmp_path)
    monkeypatch.setenv("RELUME_ENGINE_PYTHON", str(tmp_path / "missing"))
    with pytest.raises(engine_cli.EngineError, match="missing: engine Python not found"):
        engine_cli.engine()


def test_capture_patterns_become_nuke_sequences() -> None:
    assert nuke_sequence_path("/cap", "olat/L{light:03d}/frame.{frame:04d}.exr", light=7) == "/cap/olat/L007/frame.####.exr"
    assert nuke_sequence_path("C:\\cap\\", "m/{frame}.exr") == "C:/cap/m/#.exr"
    assert nuke_sequence_path("/c", "x.{frame:06}.exr") == "/c/x.######.exr"
    with pytest.raises(ValueError, match="cannot be written for Nuke"):
        nuke_sequence_path("/c", "x.{frame:4d}.exr")
    info = CaptureInfo.from_dict({"folder": "/c", "frames": [1003, 1001], "olat": "L{light}/f.{frame:04d}.exr",
                                  "light_ids": [4, 9], "directions": [[0, 1, 0], [0, 0, 1]], "rgb": [[1, 1, 1]] * 2,
                                  "matte": "m.{frame:04d}.exr"})
    assert (info.first_frame, info.last_frame, info.olat_sequence(1), info.matte_sequence()) == (
        1001, 1003, "/c/L9/f.####.exr", "/c/m.####.exr")
    assert CaptureInfo.from_dict(json.loads(info.to_json())) == info


COMPAT_SCRIPT = """
import importlib, sys
sys.path[:0] = sys.argv[1:3]
for name in ("engine_cli", "capture", "lights", "graph", "state", "live", "batch", "callbacks", "plugin"):
    importlib.import_module("relume_nuke." + name)
import relume_host.engine, relume_host.home
from relume_nuke import batch, capture, lights
assert relume_host.__file__.endswith("relume_host/__init__.py")     # found beside plugin_nuke, not installed
light = lights.NukeLight("P", "point", (1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 1, 0, 0, 0, 0, 1), falloff="quadratic")
print(lights.convert(light, lights.Placement())[0]["rgb"], capture.nuke_sequence_path("/c", "{frame:04d}.exr"),
      batch.chunks(1, 5, 2), relume_host.frames.frame_path("/s/r.####.exr", 7))
"""


@pytest.mark.skipif(not os.environ.get("RELUME_NUKE_PYTHONS"),
                    reason="set RELUME_NUKE_PYTHONS to Python 3.7/3.9/3.10 interpreters (os.pathsep-separated)")
def test_plugin_runs_on_nukes_python_versions() -> None:
    """plugin_nuke imports and converts lights under each interpreter listed (e.g. the Python
    versions of Nuke 13, 14 and 15), with the fake nuke module."""
    for python in os.environ["RELUME_NUKE_PYTHONS"].split(os.pathsep):
        result = subprocess.run([python, "-c", COMPAT_SCRIPT, str(fake_nuke.HERE), str(fake_nuke.PLUGIN)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{python}: {result.stderr}"
        assert result.stdout.split() == ["[1.0,", "1.0,", "1.0]", "/c/####.exr", "[(1,", "2),", "(3,", "4),", "(5,", "5)]", "/s/r.0007.exr"]


@pytest.mark.parametrize("gizmo_class", ["Relume_Relight", "Relume_Reenact"])
def test_a_nuke_without_relume_nuke_says_to_run_the_installer(nuke_session, monkeypatch, gizmo_class: str) -> None:
    """The gizmo's onCreate and knobChanged hooks are guarded (Cryptomatte's 2-line hooks, plus the guard):
    without the package they print what to do instead of raising."""
    for module in ("relume_nuke.callbacks", "relume_nuke.reenact"):
        monkeypatch.setitem(sys.modules, module, None)          # import now raises ImportError
    gizmo = nuke.createNode(gizmo_class)
    gizmo.showControlPanel()
    nuke.user_changes(gizmo["status"], "x")                     # knobChanged runs, silently
    assert nuke._state["terminal"] == [f"{gizmo_class}: relume_nuke is not on this Nuke path; run install.py from "
                                       "the Relume checkout\n"]
