"""Batch path: the engine renders the gizmo's frame range to EXR; the gizmo then reads the result.

``render_local`` runs ``relume relight CAPTURE --lights F --out DIR/name.####.exr --frames A-B
--skip-existing`` as a child process with a ``nuke.ProgressTask`` (cancel stops it; finished
frames are kept and a second render resumes). ``write_farm_jobs`` writes the same command split
into chunks of frames, as a JSON job description and a plain list of command lines, for a render
farm (Deadline, OpenCue, Tractor) to run. The lights file is written beside the output so the
farm reads exactly what the artist saw: animated lights as the lights file's per-frame ``frames``.
Farm command lines start with ``relume`` (the engine's own command, found on the worker's PATH), never
with this machine's interpreter; every path in them has been through Nuke's filename filters
(:func:`relume_nuke.host.os_path`), as the engine here would get it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass

import nuke
from relume_host.farm import JOB_FORMAT, write_job_files
from relume_host.frames import frame_path, has_frame_field, output_stem
from relume_host.lights_file import lights_document
from relume_nuke import graph, live, state
from relume_nuke.engine_cli import FARM_PROGRAM, EngineError
from relume_nuke.engine_steps import Step, start
from relume_nuke.host import os_path


def default_output(gizmo) -> str:
    """``<script folder>/relume/<node>/<node>.####.exr`` (the temp folder for an unsaved script)."""
    script = nuke.root()["name"].value()
    base = os.path.dirname(script) if script else tempfile.gettempdir()
    return os.path.join(base, "relume", gizmo.name(), f"{gizmo.name()}.####.exr").replace("\\", "/")


def output_pattern(gizmo) -> str:
    """The engine render's output sequence: the ``render_path`` knob, else the default."""
    return (gizmo["render_path"].evaluate() or "").strip().replace("\\", "/") or default_output(gizmo)


@dataclass(frozen=True)
class RenderPlan:
    """One engine render of a gizmo: frames ``first``..``last`` into ``output`` (name.####.exr). ``capture``,
    ``lights_file`` and ``output`` are this machine's paths (the site's filename filters applied), as the
    engine and the job files get them; ``read_output`` is ``output`` as the script names it, for the Read."""

    node: str
    capture: str
    lights_file: str
    output: str
    read_output: str
    first: int
    last: int
    exposure: float
    method: str

    def step(self, first: int, last: int, **options) -> Step:
        """The engine step rendering frames ``first``..``last`` (``options``: Step's ``depends``, ``progress``)."""
        return Step("render", ("relight", self.capture, "--lights", self.lights_file, "--out", self.output, "--frames",
                               f"{first}-{last}", "--skip-existing", "--exposure", repr(self.exposure), "--method",
                               self.method), **options)


def make_plan(gizmo, capture_folder: str | None = None) -> RenderPlan:
    """Read the gizmo (main thread) and write the lights file beside the output. ``capture_folder``: a
    capture that does not exist yet (a farm's reenacted capture) instead of the gizmo's loaded one."""
    if capture_folder is None:
        capture = state.stored_capture(gizmo)
        if capture is None:
            raise EngineError(f"{gizmo.name()}: choose a capture first")
        capture_folder = capture.folder
    entries, frame_entries, _warnings = live.range_lighting(gizmo)
    if not entries and not frame_entries:
        raise EngineError(f"{gizmo.name()}: no lights connected (lights input or env input)")
    read_output = output_pattern(gizmo)
    if not has_frame_field(read_output):
        raise EngineError(f"{read_output}: the output needs a frame number field, e.g. name.####.exr")
    first, last = int(gizmo["frame_first"].value()), int(gizmo["frame_last"].value())
    if last < first:
        raise EngineError(f"{gizmo.name()}: frame range {first}-{last} is empty")
    output = os_path(read_output)
    lights_path = os.path.join(os.path.dirname(output), f"{output_stem(output)}.lights.yaml")
    lights_file = live.write_lights_file(lights_document(entries, frame_entries), lights_path)
    return RenderPlan(gizmo.fullName(), os_path(capture_folder), lights_file.replace("\\", "/"), output, read_output,
                      first, last, float(gizmo["exposure"].value()), str(gizmo["method"].value()))


def chunks(first: int, last: int, size: int) -> list:
    """[(a, b), ...] covering first..last in runs of at most ``size`` frames."""
    size = max(1, int(size))
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def write_farm_jobs(plan: RenderPlan, size: int) -> tuple:
    """Write ``<output folder>/farm/<stem>.job.json`` and ``.commands.txt``; return both paths."""
    folder = os.path.join(os.path.dirname(plan.output), "farm")
    stem = output_stem(plan.output)
    parts = [{"frames": f"{a}-{b}", "command": plan.step(a, b).farm_command}
             for a, b in chunks(plan.first, plan.last, size)]
    job = {"format": JOB_FORMAT, "node": plan.node, "capture": plan.capture, "lights": plan.lights_file,
           "output": plan.output, "frames": f"{plan.first}-{plan.last}", "exposure": plan.exposure, "method": plan.method,
           "engine": FARM_PROGRAM, "chunks": parts}
    return write_job_files(folder, stem, job, [p["command"] for p in parts])


def finish(plan: RenderPlan, problem: Exception | None) -> None:
    """Main thread: read the rendered frames in the gizmo, or report the problem."""
    gizmo = nuke.toNode(plan.node)
    if gizmo is None:
        return
    if problem is not None:
        state.report_problem(gizmo, problem, popup=True, title="Relume render failed",
                             level=state.Level.WARNING)   # the output is as it was
        return
    graph.load_engine_render(gizmo, plan.read_output, plan.first, plan.last)
    gizmo["mode"].setValue("engine render")  # programmatic: no knobChanged in Nuke 13-16, so shown here
    graph.show(gizmo, graph.SHOW_ENGINE)
    state.set_status(gizmo, render_summary(plan.output, plan.first, plan.last))


def render_summary(pattern: str, first: int, last: int) -> str:
    """The status of a node showing the engine's render of ``first``-``last`` at ``pattern``."""
    return f"engine render {first}-{last} in {os.path.dirname(pattern)}"


def render_local(gizmo) -> threading.Thread | None:
    """Render the gizmo's frame range with the engine on this machine (background thread in the
    GUI, blocking under ``nuke -t``); returns the thread in the GUI."""
    plan = make_plan(gizmo)
    frames = range(plan.first, plan.last + 1)

    def on_disk(_stderr: str) -> tuple:
        done = sum(1 for f in frames if os.path.isfile(frame_path(plan.output, f)))
        return done / len(frames), f"{done} of {len(frames)} frames in {os.path.dirname(plan.output)}"

    return start(f"Relume render {plan.node}", [plan.step(plan.first, plan.last, progress=on_disk)],
                 lambda problem: finish(plan, problem))
