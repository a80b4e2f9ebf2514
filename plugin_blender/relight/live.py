"""Live relight: re-relight the current frame when lights, world or subject change, without freezing the UI.

Main thread (depsgraph handler, ``bpy.app.timers`` tick): notice edits, read the scene into a request
at the next tick when no relight is in flight, apply finished results to the Image datablock. There is
no debounce: edits made while a relight runs (a drag) are coalesced into the one request sent when it
returns, so at most one relight is in flight and an edit waits at most one tick before it is sent.
Worker thread: the HTTP call only (and the engine's start when it is not running); it never
touches ``bpy``, it hands its result back through a queue the next tick drains. The engine keeps
the capture loaded and relights from the cached stack, so one call costs a cached read.

Opening a file (or File > New, Revert) stops live mode: Blender drops the handlers and the timer it runs
on when it loads a file, and the new file has its own capture, subject and lights, so the artist starts
it again there. A relight still in flight then is dropped when it returns.
"""

from __future__ import annotations

import queue
import threading
import time

import bpy

from ..addon_config import Config
from ..core.service import ServiceError, check_job
from ..preferences import auto_start, engine_location
from ..relume_host.engine import EngineLocation, EngineNotFound
from .engine_session import NOT_RUNNING, SESSION
from .plan import PlanError, RelightPlan, build_plan
from .plate import load_plate, show_plate
from .status import set_status

WATCHED_TYPES = (bpy.types.Light, bpy.types.World, bpy.types.Scene, bpy.types.Material, bpy.types.ShaderNodeTree)


class LiveRelight:
    """State of live mode for one scene; one instance per Blender session (:data:`LIVE`)."""

    def __init__(self) -> None:
        self.active = False
        self.scene_name = ""
        self.edited = False  # an edit not yet sent to the engine
        self.worker: threading.Thread | None = None
        self.results: queue.Queue = queue.Queue()
        self.last_body: dict | None = None
        self.shown = False
        self.relights = 0
        self.run = 0  # counts starts: a worker's result from an earlier run is dropped

    def start(self, scene: bpy.types.Scene) -> None:
        self.active, self.scene_name = True, scene.name
        self.run += 1
        self.last_body, self.shown, self.relights = None, False, 0
        self.edited = True  # relight at the first tick
        bpy.app.handlers.depsgraph_update_post.append(_on_depsgraph_update)
        bpy.app.handlers.frame_change_post.append(_on_frame_change)
        if not bpy.app.timers.is_registered(_tick):
            bpy.app.timers.register(_tick, first_interval=0.0)
        set_status("Live relight on")

    def stop(self, message: str = "Live relight off") -> None:
        if not self.active:
            return
        self.active = False
        for handlers, function in ((bpy.app.handlers.depsgraph_update_post, _on_depsgraph_update),
                                   (bpy.app.handlers.frame_change_post, _on_frame_change)):
            if function in handlers:
                handlers.remove(function)
        if bpy.app.timers.is_registered(_tick):
            bpy.app.timers.unregister(_tick)
        set_status(message)

    def note_change(self, scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph | None) -> None:
        """Handler side: remember that something the lighting depends on changed."""
        if not self.active or scene.name != self.scene_name:
            return
        if depsgraph is None or any(isinstance(u.id, WATCHED_TYPES) or
                                    (isinstance(u.id, bpy.types.Object) and u.id.type in ("LIGHT", "EMPTY"))
                                    for u in depsgraph.updates):
            self.edited = True

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def tick(self) -> float | None:
        """Timer side: apply finished results, send the edits so far once no relight is in flight. Never blocks."""
        if not self.active:
            return None
        self._apply_results()
        if self.edited and not self.busy:
            self.edited = False
            self._submit()
        return Config.live_tick_seconds

    def _submit(self) -> None:
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            self.stop("Live relight off: its scene is gone")
            return
        try:
            plan = build_plan(scene, bpy.context.view_layer, "CURRENT", "live")
        except PlanError as exc:
            set_status(f"Live: {exc}")
            return
        if plan.body == self.last_body:
            return
        location: EngineLocation | None = None
        if not SESSION.running:
            if not auto_start():
                self.stop(f"Live relight off: {NOT_RUNNING}")
                return
            try:
                location = engine_location()
            except EngineNotFound as exc:
                self.stop(f"Live relight off: {exc}")
                return
            set_status("Live: starting the engine...")
        self.last_body = plan.body
        self.worker = threading.Thread(target=self._work, args=(plan, location, self.run), name="relume-live",
                                       daemon=True)
        self.worker.start()

    def _work(self, plan: RelightPlan, location: EngineLocation | None, run: int) -> None:
        """Worker thread: no bpy here."""
        started = time.monotonic()
        try:
            client = SESSION.client(location)
            state = check_job(client.relight({**plan.body, "wait": True}))
            self.results.put((run, plan, state, time.monotonic() - started, None))
        except ServiceError as exc:
            self.results.put((run, plan, None, 0.0, str(exc)))

    def _apply_results(self) -> None:
        while True:
            try:
                run, plan, state, seconds, error = self.results.get_nowait()
            except queue.Empty:
                return
            if run != self.run:
                continue                        # started before live mode was stopped: another scene, maybe file
            if error is not None:
                self.last_body = None  # try again on the next edit
                set_status(f"Live: {error}")
                continue
            scene = bpy.data.scenes.get(self.scene_name)
            path = state["paths"][0]
            if self.shown and bpy.data.images.get(Config.plate_image_name) is not None:
                load_plate(path, 1)
            elif scene is not None:
                show_plate(scene, path, plan.scene_frames[0], plan.plate_frames[0], 1)
                self.shown = True
            self.relights += 1
            set_status(f"Live: frame {plan.plate_frames[0]} relit in {seconds:.2f} s")

    def wait_idle(self, timeout: float) -> bool:
        """Run ticks until no edit is pending and no relight is in flight (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            if not self.edited and not self.busy and self.results.empty():
                return True
            time.sleep(Config.live_tick_seconds)
        return False


LIVE = LiveRelight()


def _on_depsgraph_update(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph) -> None:
    LIVE.note_change(scene, depsgraph)


def _on_frame_change(scene: bpy.types.Scene, depsgraph: bpy.types.Depsgraph | None = None) -> None:
    LIVE.note_change(scene, None)


def _tick() -> float | None:
    return LIVE.tick()


@bpy.app.handlers.persistent
def _on_file_load(_filepath: str = "") -> None:
    """Before Blender loads a file (and drops live mode's handlers and timer): stop live mode, saying why."""
    LIVE.stop("Live relight off: another file was opened")


def register() -> None:
    """Watch for file loads for as long as the add-on is enabled (persistent: kept across loads)."""
    bpy.app.handlers.load_pre.append(_on_file_load)


def unregister() -> None:
    """Stop live mode and the watch for file loads (the add-on is disabled)."""
    LIVE.stop()
    if _on_file_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_file_load)
