"""Batch path: the engine renders the gizmo's frame range to EXR; the gizmo then reads the result.

``render_local`` runs ``relume relight CAPTURE --lights F --out DIR/name.####.exr --frames A-B
--skip-existing`` as a child process with a ``nuke.ProgressTask`` (cancel stops it; finished
frames are kept and a second render resumes). ``write_farm_jobs`` writes the same command split
into chunks of frames, as a JSON job description and a plain list of command lines, for a render
farm (Deadline, OpenCue, Tractor) to run. The lights file is written beside the output so the
farm reads exactly what the artist saw. Lights are sampled at the current frame.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import nuke

from relume_nuke import graph, live, state
from relume_nuke.engine_cli import EngineError, engine_command, error_message, popen_options
from relume_nuke.host import in_gui, in_main_thread

POLL_S = 0.25
_FRAME_FIELD = re.compile(r"#+|%0?(\d*)d")


def frame_path(pattern: str, frame: int) -> str:
    """``pattern`` with its frame field (``####`` or ``%04d``) replaced by ``frame``."""
    def padded(match: re.Match) -> str:
        width = len(match.group(0)) if match.group(0).startswith("#") else int(match.group(1) or 0)
        return str(frame).zfill(width)
    return _FRAME_FIELD.sub(padded, pattern, count=1)


def output_stem(pattern: str) -> str:
    """``relit`` for ``/shots/relit.####.exr``: names the lights file and the farm job."""
    name = os.path.splitext(os.path.basename(pattern))[0]
    return _FRAME_FIELD.sub("", name).rstrip("._-") or "relume"


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
    """One engine render of a gizmo: frames ``first``..``last`` into ``output`` (name.####.exr)."""

    node: str
    capture: str
    lights_file: str
    output: str
    first: int
    last: int
    exposure: float
    method: str

    def command(self, first: int, last: int) -> list:
        return engine_command("relight", self.capture, "--lights", self.lights_file, "--out", self.output,
                              "--frames", f"{first}-{last}", "--skip-existing", "--exposure", repr(self.exposure),
                              "--method", self.method)


def make_plan(gizmo) -> RenderPlan:
    """Read the gizmo (main thread) and write the lights file beside the output."""
    capture = state.stored_capture(gizmo)
    if capture is None:
        raise EngineError(f"{gizmo.name()}: choose a capture first")
    entries, _warnings = live.lighting_entries(gizmo)
    if not entries:
        raise EngineError(f"{gizmo.name()}: no lights connected (lights input or env input)")
    output = output_pattern(gizmo)
    if frame_path(output, 1) == output:
        raise EngineError(f"{output}: the output needs a frame number field, e.g. name.####.exr")
    first, last = int(gizmo["frame_first"].value()), int(gizmo["frame_last"].value())
    if last < first:
        raise EngineError(f"{gizmo.name()}: frame range {first}-{last} is empty")
    lights_path = os.path.join(os.path.dirname(output), f"{output_stem(output)}.lights.json")
    lights_file = live.write_lights_file(entries, lights_path)
    return RenderPlan(gizmo.fullName(), capture.folder, lights_file.replace("\\", "/"), output, first, last,
                      float(gizmo["exposure"].value()), str(gizmo["method"].value()))


def chunks(first: int, last: int, size: int) -> list:
    """[(a, b), ...] covering first..last in runs of at most ``size`` frames."""
    size = max(1, int(size))
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def command_line(command: list) -> str:
    """One shell command line for ``command`` (cmd.exe quoting on Windows, POSIX elsewhere)."""
    return subprocess.list2cmdline(command) if sys.platform == "win32" else " ".join(map(shlex.quote, command))


def write_farm_jobs(plan: RenderPlan, size: int) -> tuple:
    """Write ``<output folder>/farm/<stem>.job.json`` and ``.commands.txt``; return both paths."""
    folder = os.path.join(os.path.dirname(plan.output), "farm")
    os.makedirs(folder, exist_ok=True)
    stem = output_stem(plan.output)
    parts = [{"frames": f"{a}-{b}", "command": plan.command(a, b)} for a, b in chunks(plan.first, plan.last, size)]
    job = {"format": 1, "node": plan.node, "capture": plan.capture, "lights": plan.lights_file, "output": plan.output,
           "frames": f"{plan.first}-{plan.last}", "exposure": plan.exposure, "method": plan.method,
           "engine_python": parts[0]["command"][0], "chunks": parts}
    job_path = os.path.join(folder, f"{stem}.job.json")
    commands_path = os.path.join(folder, f"{stem}.commands.txt")
    for path, text in ((job_path, json.dumps(job, indent=1)),
                       (commands_path, "".join(command_line(p["command"]) + "\n" for p in parts))):
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)
    return job_path, commands_path


class ConsoleProgress:
    """ProgressTask's three methods for ``nuke -t``: progress printed, never cancelled."""

    def __init__(self, name: str) -> None:
        self.name, self.message, self.last = name, "", -1

    def setMessage(self, message: str) -> None:  # noqa: N802 (Nuke's spelling)
        self.message = message

    def setProgress(self, percent: int) -> None:  # noqa: N802
        if percent != self.last:
            self.last = percent
            print(f"{self.name}: {percent}% {self.message}", flush=True)

    def isCancelled(self) -> bool:  # noqa: N802
        return False


class Cancelled(RuntimeError):
    """The artist cancelled the render; finished frames are kept."""


def run(plan: RenderPlan, task) -> None:
    """Run the engine over the plan's frames, reporting on ``task`` (a ProgressTask) by counting
    the frames on disk; terminate the engine if the task is cancelled."""
    frames = range(plan.first, plan.last + 1)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        process = subprocess.Popen(plan.command(plan.first, plan.last), stdout=subprocess.DEVNULL, stderr=errors,
                                   text=True, **popen_options())
        while process.poll() is None:
            done = sum(1 for f in frames if os.path.isfile(frame_path(plan.output, f)))
            task.setMessage(f"{done} of {len(frames)} frames")
            task.setProgress(int(100 * done / len(frames)))
            if task.isCancelled():
                process.terminate()
                process.wait()
                raise Cancelled(f"render cancelled; {done} frame(s) kept in {os.path.dirname(plan.output)}")
            time.sleep(POLL_S)
        errors.seek(0)
        if process.returncode != 0:
            raise EngineError(error_message(errors.read(), process.returncode))
    task.setProgress(100)


def finish(plan: RenderPlan, problem: Exception | None) -> None:
    """Main thread: read the rendered frames in the gizmo, or report the problem."""
    gizmo = nuke.toNode(plan.node)
    if gizmo is None:
        return
    if problem is not None:
        state.set_status(gizmo, str(problem), problem=True)
        if in_gui():
            nuke.message(f"Relume render failed:\n{problem}")
        return
    graph.load_engine_render(gizmo, plan.output, plan.first, plan.last)
    gizmo["mode"].setValue("engine render")  # programmatic: no knobChanged in Nuke 13-16, so shown here
    graph.show(gizmo, graph.SHOW_ENGINE)
    state.set_status(gizmo, f"engine render {plan.first}-{plan.last} in {os.path.dirname(plan.output)}")


def _render_in_thread(plan: RenderPlan) -> None:
    task = nuke.ProgressTask(f"Relume render {plan.node}")
    try:
        run(plan, task)
        in_main_thread(finish, plan, None)
    except (RuntimeError, OSError) as exc:
        in_main_thread(finish, plan, exc)
    finally:
        del task  # the progress bar closes when its task object goes away


def render_local(gizmo) -> threading.Thread | None:
    """Render the gizmo's frame range with the engine on this machine (background thread in the
    GUI, blocking under ``nuke -t``); returns the thread in the GUI."""
    plan = make_plan(gizmo)
    if in_gui():
        worker = threading.Thread(target=_render_in_thread, args=(plan,), name=f"relume render {plan.node}", daemon=True)
        worker.start()
        return worker
    try:
        run(plan, ConsoleProgress(f"relume render {plan.node}"))
    except (RuntimeError, OSError) as exc:
        finish(plan, exc)
        raise
    finish(plan, None)
    return None
