"""Long engine work followed from Blender's main thread: jobs run in turn, progress, Esc cancels.

An operator builds an :class:`EngineTask` and :class:`TaskOperator` runs it, blocking in ``execute``
(scripts, headless) or modal on a timer in ``invoke``, where starting the engine and submitting the first
job run on a worker thread (Esc cancels the job in progress; frames already written stay on disk). A task is plain Python over the service client, so tests can drive it step by
step (begin, poll, cancel) without a window.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import bpy

from ..addon_config import Config
from ..core.background import BackgroundCall
from ..core.service import ServiceClient, ServiceError, check_job
from ..relume_host.vocabulary import JobState
from .engine_session import SESSION, engine_connector
from .plan import PlanError
from .status import set_status


class Outcome(NamedTuple):
    """How a task ended: the operator result (FINISHED/CANCELLED), a report level and the message."""

    result: str
    level: str
    message: str


class EngineTask:
    """Engine jobs run one after another. Subclasses set :attr:`phases` and implement :meth:`start` (submit
    the first job, return its state) and :meth:`job_done` (the next job's state, or the :class:`Outcome`)."""

    phases = 1

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.phase = 0                       # index of the job in progress
        self.label = "Working"               # what it does, for the status line
        self.state: dict = {}
        self.warnings: list[str] = []

    def start(self) -> dict:
        raise NotImplementedError

    def job_done(self, state: dict) -> dict | Outcome:
        raise NotImplementedError

    def begin(self) -> None:
        """Submit the first job (ServiceError, PlanError for the artist)."""
        self.state = check_job(self.start())

    def next_job(self, label: str, state: dict) -> dict:
        """Record that the following job (``label``) has been submitted; returns its state."""
        self.phase += 1
        self.label = label
        return state

    @property
    def fraction(self) -> float:
        """Progress over all phases, 0 to 1."""
        total = max(1, self.state.get("total", 0))
        return min(1.0, (self.phase + self.state.get("done", 0) / total) / self.phases)

    def poll(self) -> Outcome | None:
        """Follow the job in progress; the Outcome once the task has ended (ServiceError if a job failed)."""
        self.state = check_job(self.client.job(self.state["job"]))
        if self.state["state"] == JobState.CANCELLED:
            return Outcome("CANCELLED", "WARNING",
                           f"{self.label} cancelled; {self.state['done']} finished frame(s) kept on disk")
        if self.state["state"] != JobState.DONE:
            return None
        following = self.job_done(self.state)
        if isinstance(following, Outcome):
            return following
        self.state = check_job(following)
        return None

    def cancel(self) -> None:
        """Ask the job in progress to stop after its current frame."""
        self.client.cancel(self.state["job"])


def report_error(operator: bpy.types.Operator, message: str) -> set[str]:
    """Show ``message`` in the status line and as an error report; the operator's CANCELLED result."""
    set_status(f"Error: {message}")
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


def report_done(operator: bpy.types.Operator, message: str) -> set[str]:
    """Show ``message`` in the status line and as an info report; the operator's FINISHED result."""
    set_status(message)
    operator.report({"INFO"}, message)
    return {"FINISHED"}


class TaskOperator:
    """Mixin for an operator that runs :meth:`make_task`'s task (put it before ``bpy.types.Operator``)."""

    def make_task(self, context: bpy.types.Context) -> EngineTask:
        raise NotImplementedError

    def _begin(self, context: bpy.types.Context) -> str | None:
        """Build the task and submit its first job; returns an error message or None."""
        try:
            self.task = self.make_task(context)
            self.task.begin()
        except (PlanError, ServiceError) as exc:
            return str(exc)
        self._submitted(context)
        return None

    def _submitted(self, context: bpy.types.Context) -> None:
        """The first job is in: report the task's warnings, show its progress."""
        for warning in self.task.warnings:
            self.report({"WARNING"}, warning)
        context.window_manager.progress_begin(0.0, 1.0)
        set_status(f"{self.task.label}... (Esc cancels)")

    def _poll(self, context: bpy.types.Context) -> set[str] | None:
        """Follow the task; the operator's result once it has ended."""
        try:
            outcome = self.task.poll()
        except (PlanError, ServiceError) as exc:
            context.window_manager.progress_end()
            return report_error(self, str(exc))
        if outcome is None:
            context.window_manager.progress_update(self.task.fraction)
            state = self.task.state
            set_status(f"{self.task.label}: {state.get('done', 0)}/{state.get('total', 0)} frame(s) (Esc cancels)")
            return None
        context.window_manager.progress_end()
        set_status(outcome.message)
        self.report({outcome.level}, outcome.message)
        return {outcome.result}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking form (scripts, headless): the same jobs, followed until they end."""
        error = self._begin(context)
        if error:
            return report_error(self, error)
        while True:
            result = self._poll(context)
            if result is not None:
                return result
            time.sleep(Config.modal_poll_seconds)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """Modal form: the engine's start and the first job's submission run on a worker thread
        (:class:`BackgroundCall`), so the UI stays live; then the job is followed on the timer."""
        try:
            self.pending: BackgroundCall | None = BackgroundCall(engine_connector(), "relume-engine-start")
        except ServiceError as exc:
            return report_error(self, str(exc))
        self.submitted = False
        set_status("Starting the engine..." if not SESSION.running else "Submitting...")
        self.timer = context.window_manager.event_timer_add(Config.modal_poll_seconds, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _finish(self, context: bpy.types.Context, result: set[str]) -> set[str]:
        context.window_manager.event_timer_remove(self.timer)
        return result

    def _advance(self, context: bpy.types.Context) -> set[str] | None:
        """The worker's call has returned: after the engine's start, build the task (it reads the scene, so
        here on the main thread) and submit its first job on a worker; after the submission, follow it."""
        pending, self.pending = self.pending, None
        try:
            pending.result()
            if not self.submitted:
                self.task = self.make_task(context)
                self.pending, self.submitted = BackgroundCall(self.task.begin, "relume-submit"), True
                return None
        except (PlanError, ServiceError) as exc:
            return report_error(self, str(exc))
        self._submitted(context)
        return None

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC" and self.pending is None:
            try:
                self.task.cancel()
            except ServiceError as exc:
                self.report({"WARNING"}, str(exc))
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self.pending is not None:        # the engine starting or the job being submitted: Esc waits for it
            if not self.pending.done:
                return {"RUNNING_MODAL"}
            result = self._advance(context)
            return {"RUNNING_MODAL"} if result is None else self._finish(context, result)
        result = self._poll(context)
        return {"RUNNING_MODAL"} if result is None else self._finish(context, result)
