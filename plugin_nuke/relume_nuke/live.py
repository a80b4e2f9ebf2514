"""Live weights: the gizmo's lighting -> the engine's per-stage-light weights -> Multiply knobs.

In the main thread the gizmo's inputs and knobs are read into a Request (lights-file entries,
exposure, method); the engine runs ``weights CAPTURE --lights FILE --json`` in a worker thread;
the result is written to knobs back in the main thread (``nuke.executeInMainThread``), because
Nuke's knobs may only be touched there. While a request for a gizmo is running, newer requests
for it replace each other, so dragging a light runs the engine at most once at a time per gizmo
and always ends on the latest state. Without a GUI (``nuke -t``, farm) it all runs synchronously.
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
from relume_nuke import graph, state
from relume_nuke.capture import CaptureInfo
from relume_nuke.engine_cli import run_engine_json
from relume_nuke.host import in_gui, in_main_thread
from relume_nuke.lights import Placement, environment_entry, knob_floats, scene_entries

LIGHTS_INPUT, ENV_INPUT = 1, 2


@dataclass(frozen=True)
class Request:
    """Everything the engine needs for one weights computation, read in the main thread."""

    node: str
    capture: CaptureInfo
    entries: tuple
    exposure: float
    method: str
    warnings: tuple = ()

    @property
    def key(self) -> str:
        """A digest of the lighting and its warnings; equal keys give equal weights and status."""
        text = json.dumps([self.capture.folder, self.entries, self.exposure, self.method, self.warnings], sort_keys=True)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()


def lighting_entries(gizmo) -> tuple:
    """(lights-file entries, warnings) from the lights input (scene) and the env input (image)."""
    placement = Placement(subject=knob_floats(gizmo, "subject", 3, 0.0), scale=float(gizmo["scene_scale"].value()))
    entries, warnings = [], []
    if gizmo.input(LIGHTS_INPUT) is not None:
        entries, warnings = scene_entries(gizmo.input(LIGHTS_INPUT), placement)
    env, notes = environment_entry(gizmo.input(ENV_INPUT), gizmo["rotate"].value(), gizmo["strength"].value())
    return entries + ([env] if env else []), warnings + notes


def make_request(gizmo, capture: CaptureInfo) -> Request:
    entries, warnings = lighting_entries(gizmo)
    return Request(node=gizmo.fullName(), capture=capture, entries=tuple(entries),
                   exposure=float(gizmo["exposure"].value()), method=str(gizmo["method"].value()),
                   warnings=tuple(warnings))


def write_lights_file(entries: list, path: str | None = None) -> str:
    """Write a lights file (JSON, which the engine's YAML reader accepts) atomically; by default
    into a content-named file in the temp folder, reused while the lighting is the same."""
    text = json.dumps({"lights": list(entries)}, indent=1, sort_keys=True)
    if path is None:
        folder = os.path.join(tempfile.gettempdir(), "relume_nuke")
        path = os.path.join(folder, f"lights_{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}.json")
        if os.path.isfile(path):
            return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def compute(request: Request) -> dict:
    """The weights for a request (worker thread safe: no Nuke calls). No lights -> all zero."""
    if not request.entries:
        weights = [[0.0, 0.0, 0.0] for _ in request.capture.light_ids]
        return {"capture": request.capture.folder, "light_ids": list(request.capture.light_ids),
                "weights": weights, "key": request.key}
    result = run_engine_json("weights", request.capture.folder, "--lights", write_lights_file(list(request.entries)),
                             "--exposure", repr(request.exposure), "--method", request.method)
    return {"capture": request.capture.folder, "light_ids": result["light_ids"], "weights": result["weights"],
            "key": request.key}


def describe(request: Request, weights: list) -> str:
    """The status line after an update."""
    lit = sum(1 for rgb in weights if any(v for v in rgb))
    text = (f"{request.capture.light_count} stage lights, {lit} lit by {len(request.entries)} light(s)"
            if request.entries else "no lights connected: output is black")
    return "; ".join([text, *request.warnings])


def apply(gizmo, request: Request, result: dict) -> None:
    """Write a finished computation into the gizmo (main thread)."""
    if state.stored_capture(gizmo) != request.capture or graph.graph_light_count(gizmo) != request.capture.light_count:
        return  # the capture changed while the engine was running; a newer request follows
    graph.apply_weights(gizmo, result["weights"])
    state.store_weights(gizmo, result)
    state.set_status(gizmo, describe(request, result["weights"]), problem=bool(request.warnings))
    panel = sys.modules.get("relume_nuke.panel")  # only when a panel was opened (Qt loaded)
    if panel is not None:
        panel.refresh(gizmo)


def _apply_by_name(name: str, request: Request, outcome: object) -> None:
    gizmo = nuke.toNode(name)
    if gizmo is None:
        return  # deleted meanwhile
    if isinstance(outcome, Exception):
        state.set_status(gizmo, str(outcome), problem=True)
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
            except (RuntimeError, OSError) as exc:  # EngineError, EngineNotConfigured
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
    except RuntimeError as exc:  # EngineError, EngineNotConfigured: shown, and fatal for a script
        state.set_status(gizmo, str(exc), problem=True)
        raise
