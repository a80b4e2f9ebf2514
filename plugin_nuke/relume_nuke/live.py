"""Live weights: the gizmo's lighting -> the engine's per-stage-light weights -> the gizmo's weight knobs.

In the main thread the gizmo's inputs and knobs are read into a Request (lights-file entries at every
frame of the gizmo's frame range, exposure, method); when the lighting differs between frames (keyed
lights, parent axes, environment rotation or strength), the frames whose lighting differs from the first
frame's get their own entries, the way the engine's lights file holds animated lights (``frames``). The
engine runs ``weights CAPTURE --lights FILE --json`` in a worker thread; the result is written to the
gizmo's weight knobs back in the main thread (``nuke.executeInMainThread``), because Nuke's knobs may
only be touched there: one value per stage light, or a key per frame when the lighting animates. While
a request for a gizmo is running, newer requests for it replace each other, so dragging a light runs
the engine at most once at a time per gizmo and always ends on the latest state. Without a GUI
(``nuke -t``, farm) it all runs synchronously.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass

import nuke
from relume_host.atomic import write_text_atomic
from relume_host.lights_file import lights_document, lights_text
from relume_nuke import graph, state
from relume_nuke.capture import CaptureInfo
from relume_nuke.engine_cli import PROBLEMS, run_engine_json
from relume_nuke.host import in_gui, in_main_thread, os_path, undo_step
from relume_nuke.lights import LIGHTING_KNOBS, Placement, environment_entry, knob_floats, scene_entries, upstream

LIGHTS_INPUT, ENV_INPUT = 1, 2
UNDO_NAME = "Relume weights"  # the undo step of one weights update


@dataclass(frozen=True)
class Request:
    """Everything the engine needs for one weights computation, read in the main thread: ``entries`` light
    every frame except those in ``frame_entries`` ((frame, entries) pairs, for animated lighting);
    ``capture_path``: the capture folder through the site's filename filters, for the engine."""

    node: str
    capture: CaptureInfo
    capture_path: str
    entries: tuple
    exposure: float
    method: str
    warnings: tuple = ()
    frame_entries: tuple = ()

    @property
    def key(self) -> str:
        """A digest of the lighting and its warnings; equal keys give equal weights and status."""
        text = json.dumps([self.capture.folder, self.entries, self.frame_entries, self.exposure, self.method,
                           self.warnings], sort_keys=True)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()


def lighting_entries(gizmo, frame: float | None = None) -> tuple:
    """(lights-file entries, warnings) from the lights input (scene) and the env input (image) at
    ``frame`` (default the current frame)."""
    frame = nuke.frame() if frame is None else frame
    placement = Placement(subject=knob_floats(gizmo, "subject", 3, 0.0, frame),
                          scale=knob_floats(gizmo, "scene_scale", 1, 1.0, frame)[0])
    entries, warnings = [], []
    if gizmo.input(LIGHTS_INPUT) is not None:
        entries, warnings = scene_entries(gizmo.input(LIGHTS_INPUT), placement, frame)
    env, notes = environment_entry(gizmo.input(ENV_INPUT), knob_floats(gizmo, "rotate", 1, 0.0, frame)[0],
                                   knob_floats(gizmo, "strength", 1, 1.0, frame)[0])
    return entries + ([env] if env else []), warnings + notes


def frame_range(gizmo) -> range:
    """The frames the live graph is keyed over: the gizmo's frame range."""
    first, last = int(gizmo["frame_first"].value()), int(gizmo["frame_last"].value())
    return range(first, max(first, last) + 1)


def _moves(node, names) -> bool:
    """Whether any of ``node``'s knobs called ``names`` is keyed or driven by an expression."""
    for name in names:
        knob = node.knob(name)
        if knob is not None and (knob.isAnimated() or knob.hasExpression()):
            return True
    return False


def lighting_animates(gizmo) -> bool:
    """Whether the lighting may differ between frames: a lighting knob of the gizmo, or of a node feeding
    its lights or env input (lights, their parent axes, Scene, HDRI Reads), is keyed or an expression."""
    if _moves(gizmo, ("rotate", "strength", "subject", "scene_scale")):
        return True
    fed = {**upstream(gizmo.input(LIGHTS_INPUT))[1], **upstream(gizmo.input(ENV_INPUT))[1]}
    return any(_moves(node, LIGHTING_KNOBS) for node in fed.values())


def range_lighting(gizmo) -> tuple:
    """(entries at the first frame of the range, ((frame, entries), ...) for each later frame lit
    otherwise, warnings): the lighting over the gizmo's frame range, keys and expressions followed
    (each frame is read only when something animates, so a static scene costs one reading)."""
    frames = frame_range(gizmo)
    entries, warnings = lighting_entries(gizmo, frames[0])
    differing = []
    for frame in frames[1:] if lighting_animates(gizmo) else ():
        frame_entries, _notes = lighting_entries(gizmo, frame)
        if frame_entries != entries:
            differing.append((frame, tuple(frame_entries)))
    if gizmo["exposure"].isAnimated():
        warnings = warnings + ["exposure: keys are not followed (one value for the shot; grade after the node)"]
    return tuple(entries), tuple(differing), tuple(warnings)


def make_request(gizmo, capture: CaptureInfo) -> Request:
    entries, frame_entries, warnings = range_lighting(gizmo)
    return Request(node=gizmo.fullName(), capture=capture, capture_path=os_path(capture.folder), entries=entries,
                   exposure=float(gizmo["exposure"].value()),
                   method=str(gizmo["method"].value()), warnings=warnings, frame_entries=frame_entries)


def write_lights_file(document: dict, path: str | None = None) -> str:
    """Write a lights file (:func:`relume_host.lights_file.lights_document`) atomically; by default into a
    content-named file in the temp folder, reused while the lighting is the same."""
    text = lights_text(document)
    if path is None:
        folder = os.path.join(tempfile.gettempdir(), "relume_nuke")
        path = os.path.join(folder, f"lights_{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}.yaml")
        if os.path.isfile(path):
            return path
    write_text_atomic(path, text)
    return path


def compute(request: Request) -> dict:
    """The weights for a request (worker thread safe: no Nuke calls): ``weights`` (L, 3) and ``frames``
    (frame -> (L, 3) for the frames lit otherwise). A frame without lights is all zero."""
    zeros = [[0.0, 0.0, 0.0] for _ in request.capture.light_ids]
    lit = dict(request.frame_entries)
    default = request.entries or next((entries for entries in lit.values() if entries), ())
    result = {"light_ids": list(request.capture.light_ids), "weights": zeros, "frames": {}}
    if default:
        document = lights_document(default, [(f, e) for f, e in lit.items() if e and e != default])
        result = run_engine_json("weights", request.capture_path, "--lights", write_lights_file(document),
                                 "--exposure", repr(request.exposure), "--method", request.method)
    frames = {}
    if request.frame_entries:
        frames = {frame: (result["frames"].get(str(frame), result["weights"]) if entries else zeros)
                  for frame, entries in request.frame_entries}
    return {"capture": request.capture.folder, "light_ids": result["light_ids"],
            "weights": result["weights"] if request.entries else zeros, "frames": frames, "key": request.key}


def describe(request: Request, weights: list) -> str:
    """The status line after an update."""
    lit = sum(1 for rgb in weights if any(v for v in rgb))
    if request.entries or request.frame_entries:
        text = f"{request.capture.light_count} stage lights, {lit} lit by {len(request.entries)} light(s)"
        if request.frame_entries:
            text += f"; animated: {len(request.frame_entries)} frame(s) keyed with their own lighting"
    else:
        text = "no lights connected: output is black"
    return "; ".join([text, *request.warnings])


def apply(gizmo, request: Request, result: dict) -> None:
    """Write a finished computation into the gizmo (main thread)."""
    if state.stored_capture(gizmo) != request.capture or graph.graph_light_count(gizmo) != request.capture.light_count:
        return  # the capture changed while the engine was running; a newer request follows
    frames = {}
    if result["frames"]:  # key every frame of the range: the first frame's lighting where no other is given
        frames = {frame: result["weights"] for frame in frame_range(gizmo)}
        frames.update(result["frames"])
    with undo_step(UNDO_NAME):
        graph.apply_weights(gizmo, result["weights"], frames)
        state.store_weights(gizmo, {"capture": result["capture"], "light_ids": result["light_ids"],
                                    "key": result["key"]})
        state.set_status(gizmo, describe(request, result["weights"]),
                         state.Level.WARNING if request.warnings else state.Level.INFO)
    panel = sys.modules.get("relume_nuke.panel")  # only when a panel was opened (Qt loaded)
    if panel is not None:
        panel.refresh(gizmo)


def _apply_by_name(name: str, request: Request, outcome: object) -> None:
    gizmo = nuke.toNode(name)
    if gizmo is None:
        return  # deleted meanwhile
    if isinstance(outcome, Exception):
        state.set_status(gizmo, str(outcome), state.Level.ERROR)
    else:
        apply(gizmo, request, outcome)


class UpdateQueue:
    """One worker at a time per gizmo; requests arriving meanwhile collapse to the newest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict = {}
        self._running: dict = {}

    def submit(self, request: Request) -> None:
        with self._lock:
            if request.node in self._running:
                self._pending[request.node] = request
                return
            self._running[request.node] = self._start(request)

    def _start(self, request: Request) -> threading.Thread:
        worker = threading.Thread(target=self._work, args=(request,), name=f"relume {request.node}", daemon=True)
        worker.start()
        return worker

    def _work(self, request: Request) -> None:
        node = request.node
        while True:
            try:
                outcome: object = compute(request)
            except PROBLEMS as exc:
                outcome = exc
            in_main_thread(_apply_by_name, node, request, outcome)
            with self._lock:
                request = self._pending.pop(node, None)
                if request is None:
                    self._running.pop(node, None)
                    return

    def wait(self, timeout: float = 60.0) -> None:
        """Block until every running worker has finished (tests, script exit)."""
        for worker in list(self._running.values()):
            worker.join(timeout)


QUEUE = UpdateQueue()


def request_update(gizmo) -> None:
    """Recompute the gizmo's weights for its current lighting (asynchronously in the GUI)."""
    capture = state.stored_capture(gizmo)
    if capture is None or graph.graph_light_count(gizmo) != capture.light_count:
        return
    request = make_request(gizmo, capture)
    stored = state.stored_weights(gizmo, capture)
    if stored is not None and stored.get("key") == request.key:
        return  # same lighting as the weights already applied
    if in_gui():
        QUEUE.submit(request)
        return
    try:
        apply(gizmo, request, compute(request))
    except PROBLEMS as exc:  # shown, and fatal for a script
        state.set_status(gizmo, str(exc), state.Level.ERROR)
        raise
