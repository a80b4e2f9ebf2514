"""The Relume_Reenact gizmo: a source performer's plate in, the target's reenacted capture out.

Input 0 is a Read of the source footage. The engine, in order: ``relume track`` the plate (with overlay
PNGs of the fitted mesh), ``relume transfer`` its expressions onto the track the trained model learnt
from (the model's ``config.json`` names it), ``relume reenact`` the model into a capture folder. "Train"
(and Reenact or the farm job, when the model folder is still empty and a target capture is chosen)
first runs ``relume track`` on the target capture and ``relume train`` on it. The
gizmo's Switch shows the source, the reenacted target with every stage light on (the capture's tracking
frames), or the track overlay. Lighting is Relume_Relight's job: a Relume_Relight fed by this node
takes the reenacted capture, so the same light, environment and animated-weight controls apply, and
"Write farm jobs" writes one job with track -> transfer -> reenact -> the connected relights' chunks,
each task naming the tasks it depends on.

Files go under the ``work_folder`` knob (default ``<script folder>/relume/<node>``): ``source.track``,
``overlay/overlay.####.png``, ``target.track`` (when training), ``result.track``, ``reenacted/`` (a standard
capture), ``farm/``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace

import nuke
from relume_host.farm import JOB_FORMAT, write_job_files
from relume_nuke import GIZMO_CLASS, batch, callbacks, graph, state
from relume_nuke.capture import capture_folder, load_capture
from relume_nuke.engine_cli import FARM_PROGRAM, EngineError
from relume_nuke.engine_steps import Step, start
from relume_nuke.host import in_gui, os_path

SOURCE_INPUT = 0
SWITCH = "relume_show"
REENACTED_READ = "relume_reenacted_read"
REENACTED_COLOUR = "relume_reenacted_colour"  # OCIOColorSpace: the reenacted capture's space -> output_colorspace
OVERLAY_READ = "relume_overlay_read"
SHOW = {"source": 0, "reenacted": 1, "track overlay": 2}   # relume_show inputs, the ``show`` knob's items
CAPTURE_KNOB = "reenacted_capture"                          # hidden: the capture.yaml once reenacted
COLORSPACE_KNOB = "reenacted_colorspace"                    # hidden: its colorspace (capture.yaml)
MODEL_CONFIG = "config.json"
_PRINTF = re.compile(r"%0?(\d*)d")


def work_folder(gizmo) -> str:
    """The ``work_folder`` knob, else ``<script folder>/relume/<node>`` (the temp folder when unsaved), as the
    script names it (the Reads inside take it so); :func:`work_path` is this machine's path of it."""
    chosen = (gizmo["work_folder"].evaluate() or "").strip()
    return (chosen or os.path.dirname(batch.default_output(gizmo))).replace("\\", "/")


def work_path(gizmo) -> str:
    """The work folder as the engine and the disk see it (the site's filename filters applied)."""
    return os_path(work_folder(gizmo))


def source_pattern(gizmo) -> str:
    """The plate Read's sequence as the engine names sequences (``plate.####.png``), filename filters applied."""
    read = gizmo.input(SOURCE_INPUT)
    path = nuke.filename(read) if read is not None and read.Class() == "Read" else None
    if not path:
        raise EngineError(f"{gizmo.name()}: connect a Read of the source performer's footage to input 0")
    return _PRINTF.sub(lambda m: "#" * max(1, int(m.group(1) or 1)), os_path(path).replace("\\", "/"))


def trained_track(model: str) -> str:
    """The target track the model was trained on (its config.json says), checked to exist."""
    config_path = os.path.join(model, MODEL_CONFIG)
    try:
        with open(config_path, encoding="utf-8") as handle:
            track = json.load(handle).get("track")
    except FileNotFoundError:
        raise EngineError(f"{model}: not a trained model folder (no {MODEL_CONFIG}; relume train --out makes one)") \
            from None
    except (OSError, ValueError) as exc:
        raise EngineError(f"{config_path}: unreadable ({exc})") from None
    if not track or not os.path.isfile(track):
        raise EngineError(f"{config_path}: the target track it was trained on ({track}) is not there")
    return track


def _model(gizmo) -> str:
    """The trained model folder, as this machine's path (filename filters applied)."""
    model = (gizmo["model"].evaluate() or "").strip().replace("\\", "/")
    if not model:
        raise EngineError(f"{gizmo.name()}: choose the trained model folder (relume train --out)")
    return os_path(model)


def training_steps(gizmo) -> list:
    """Track the target capture and train (or, with a checkpoint there, continue) the model on it."""
    work, model = work_path(gizmo), _model(gizmo)
    target = capture_folder(gizmo["target_capture"].evaluate() or "")
    if not target:
        raise EngineError(f"{gizmo.name()}: choose the target's capture.yaml to train on")
    target = os_path(target)
    resume = ("--resume",) if os.path.isfile(os.path.join(model, MODEL_CONFIG)) else ()
    return [Step("track target", ("track", target, "--out", f"{work}/target.track")),
            Step("train", ("train", target, "--track", f"{work}/target.track", "--out", model,
                           "--steps", str(int(gizmo["train_steps"].value())), *resume), ("track target",))]


def steps(gizmo, through: str) -> list:
    """The engine steps for ``through`` ("track", "train" or "reenact"), named, with their dependencies.
    Reenact trains first when the model folder holds no model yet and a target capture is chosen."""
    if through == "train":
        return training_steps(gizmo)
    work = work_path(gizmo)
    first, last = _frames(gizmo)
    if last < first:
        raise EngineError(f"{gizmo.name()}: frame range {first}-{last} is empty")
    source, result = f"{work}/source.track", f"{work}/result.track"
    planned = [Step("track", ("track", source_pattern(gizmo), "--out", source, "--frames", f"{first}-{last}",
                              "--preview", f"{work}/overlay"))]
    if through == "track":
        return planned
    model = _model(gizmo)
    untrained = not os.path.isfile(os.path.join(model, MODEL_CONFIG)) and gizmo["target_capture"].evaluate()
    training = training_steps(gizmo) if untrained else []
    onto = f"{work}/target.track" if training else trained_track(model)
    planned += training
    planned.append(Step("transfer", ("transfer", source, "--onto", onto, "--out", result),
                        ("track", "track target") if training else ("track",)))
    smoothing = f"{gizmo['temporal_smoothing'].value():g}"
    planned.append(Step("reenact", ("reenact", model, "--track", result, "--out", f"{work}/reenacted",
                                    "--temporal-smoothing", smoothing),
                        ("transfer", "train") if training else ("transfer",)))
    return planned


def show(gizmo, what: str) -> None:
    """Point the Switch at ``what`` (a ``show`` knob value) and keep the knob in step."""
    graph.inside(gizmo, SWITCH)["which"].setValue(SHOW[what])
    gizmo["show"].setValue(what)   # programmatic: Nuke 13-16 run no knobChanged for it


def _frames(gizmo) -> tuple:
    return int(gizmo["frame_first"].value()), int(gizmo["frame_last"].value())


def refresh(gizmo) -> None:
    """Point the internal Reads at what the work folder holds and show the ``show`` knob's choice."""
    work, (first, last) = work_folder(gizmo), _frames(gizmo)
    overlay, reenacted = graph.inside(gizmo, OVERLAY_READ), graph.inside(gizmo, REENACTED_READ)
    graph.read_sequence(overlay, f"{work}/overlay/overlay.####.png", first, last, raw=False)
    graph.read_sequence(reenacted, f"{work}/reenacted/tracking/frame.####.exr", first, last)
    graph.inside(gizmo, SWITCH)["which"].setValue(SHOW[gizmo["show"].value()])
    colour = graph.inside(gizmo, REENACTED_COLOUR)
    target = (gizmo["output_colorspace"].value() or "").strip() or "scene_linear"
    source = gizmo[COLORSPACE_KNOB].value() or target
    colour["in_colorspace"].setValue(source)
    colour["out_colorspace"].setValue(target)
    colour["disable"].setValue(source == target)


def follow_plate(gizmo) -> None:
    """Frame range = the plate Read's (``first``/``last`` knobs)."""
    read = gizmo.input(SOURCE_INPUT)
    if read is not None and read.Class() == "Read":
        gizmo["frame_first"].setValue(int(read["first"].value()))
        gizmo["frame_last"].setValue(int(read["last"].value()))
        refresh(gizmo)


def downstream_relights(gizmo) -> list:
    """Relume_Relight nodes whose plate input is this gizmo."""
    with nuke.root():
        nodes = nuke.allNodes(GIZMO_CLASS, recurseGroups=True)
    return [node for node in nodes if node.input(0) is not None and node.input(0).fullName() == gizmo.fullName()]


def hand_over(gizmo) -> None:
    """Give the reenacted capture to the Relume_Relight nodes this gizmo feeds (their lighting applies)."""
    capture = f"{work_folder(gizmo)}/reenacted/capture.yaml"
    gizmo[CAPTURE_KNOB].setValue(capture)
    gizmo[COLORSPACE_KNOB].setValue(load_capture(capture).colorspace)
    refresh(gizmo)
    for relight in downstream_relights(gizmo):
        relight["capture"].setValue(capture)  # programmatic: no knobChanged in Nuke 13-16, so loaded here
        with callbacks.reported(relight, popup=False):
            callbacks.load(relight)


def _finished(node_name: str, through: str, problem: Exception | None) -> None:
    gizmo = nuke.toNode(node_name)
    if gizmo is None:
        return
    if problem is not None:
        state.report_problem(gizmo, problem, popup=True, title=f"Relume {through} failed",
                             level=state.Level.WARNING)   # the output is as it was
        return
    if through == "train":
        state.set_status(gizmo, f"trained {_model(gizmo)}")
        return
    refresh(gizmo)
    if through == "track":
        show(gizmo, "track overlay")
        state.set_status(gizmo, f"tracked {work_folder(gizmo)}/source.track")
        return
    show(gizmo, "reenacted")
    hand_over(gizmo)
    state.set_status(gizmo, f"reenacted capture in {work_folder(gizmo)}/reenacted")


def run(gizmo, through: str):
    """Run the steps through ``through`` on this machine (worker thread in the GUI)."""
    planned = steps(gizmo, through)
    name = gizmo.fullName()
    return start(f"Relume {through} {name}", planned, lambda problem: _finished(name, through, problem))


def write_farm_jobs(gizmo, chunk_size: int) -> tuple:
    """``<work>/farm/reenact.job.json`` (tasks with ``depends``) and ``reenact.commands.txt`` (in order): track,
    transfer, reenact, then every connected Relume_Relight's relight chunks of the reenacted capture over this
    node's frame range (its lighting, exposure and output as that node has them)."""
    work, (first, last) = work_folder(gizmo), _frames(gizmo)
    planned = steps(gizmo, "reenact")
    for relight in downstream_relights(gizmo):
        plan = replace(batch.make_plan(relight, f"{work}/reenacted"), first=first, last=last)
        planned += [replace(plan.step(a, b, depends=("reenact",)), name=f"relight {relight.name()} {a}-{b}")
                    for a, b in batch.chunks(plan.first, plan.last, chunk_size)]
    tasks = [{"name": s.name, "command": s.farm_command, "depends": list(s.depends)} for s in planned]
    job = {"format": JOB_FORMAT, "kind": "relume-reenact", "node": gizmo.fullName(), "work_folder": os_path(work),
           "frames": f"{first}-{last}", "engine": FARM_PROGRAM, "tasks": tasks}
    return write_job_files(os_path(f"{work}/farm"), "reenact", job, [task["command"] for task in tasks])


# ---------------------------------------------------------------- entry points the gizmo's hooks call with the node


def on_create(gizmo) -> None:
    """onCreate (also when a script holding the gizmo loads): point the Reads at the work folder."""
    with callbacks.reported(gizmo, popup=False):
        refresh(gizmo)


def knob_changed(gizmo, knob) -> None:
    """knobChanged: a new plate sets the frame range; ``show``, ``work_folder`` and the range re-point the Reads."""
    name = knob.name()
    with callbacks.reported(gizmo, popup=False):
        if name == "inputChange":
            follow_plate(gizmo)
        elif name in ("show", "work_folder", "frame_first", "frame_last", "output_colorspace"):
            refresh(gizmo)


def track_source(gizmo) -> None:
    """'Track source' button."""
    with callbacks.reported(gizmo, popup=True, level=state.Level.WARNING):
        run(gizmo, "track")


def train(gizmo) -> None:
    """'Train' button: track the target capture and train the model on it."""
    with callbacks.reported(gizmo, popup=True, level=state.Level.WARNING):
        run(gizmo, "train")


def reenact(gizmo) -> None:
    """'Reenact' button: track, (train,) transfer, reenact."""
    with callbacks.reported(gizmo, popup=True, level=state.Level.WARNING):
        run(gizmo, "reenact")


def write_farm(gizmo) -> None:
    """'Write farm jobs' button."""
    with callbacks.reported(gizmo, popup=True, level=state.Level.WARNING):
        job, commands = write_farm_jobs(gizmo, int(gizmo["chunk_size"].value()))
        state.set_status(gizmo, f"farm job written: {job}")
        if in_gui():
            nuke.message(f"Relume farm job:\n{job}\n{commands}")
