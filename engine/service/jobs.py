"""Jobs of the service (relight, reenact): progress, cancellation, and a registry the HTTP handlers share."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engine.errors import RelumeError
from relume_host.vocabulary import JobState

log = logging.getLogger(__name__)



KEEP_FINISHED = 64  # finished jobs remembered for GET /jobs/<id>


class FrameJob(Protocol):
    """Work over frames that reports each finished frame (RelightJob, ReenactJob)."""

    frames: Sequence[int]

    def pending_frames(self) -> list[int]: ...

    def run(self, progress: bool = True, on_frame: Callable[[int, Path], None] | None = None) -> object: ...


class JobCancelled(Exception):
    """Raised between frames when a job's cancel was requested."""


@dataclass
class ServiceJob:
    """One job (a :class:`FrameJob`) plus the state the service reports."""

    id: str
    job: FrameJob
    state: JobState = JobState.QUEUED
    done: int = 0
    total: int = 0
    paths: list[str] = field(default_factory=list)
    error: str | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict:
        """The job's state as the JSON the protocol returns."""
        with self.lock:
            return {"job": self.id, "state": self.state.value, "done": self.done, "total": self.total,
                    "paths": list(self.paths), "error": self.error}

    def _on_frame(self, frame: int, path: Path) -> None:
        with self.lock:
            self.done += 1
            self.paths.append(str(path))
        if self.cancel_requested.is_set():
            raise JobCancelled

    def _finish(self, state: JobState, error: str | None = None) -> None:
        with self.lock:
            self.state, self.error = state, error
        self.finished.set()

    def run(self) -> None:
        """Run the job to its end (called on a worker thread or the request's own thread)."""
        with self.lock:
            if self.cancel_requested.is_set():
                self.state = JobState.CANCELLED
                self.finished.set()
                return
            self.state = JobState.RUNNING
            self.total = len(self.job.pending_frames())
        try:
            self.job.run(progress=False, on_frame=self._on_frame)
        except JobCancelled:
            self._finish(JobState.CANCELLED)
        except RelumeError as exc:
            self._finish(JobState.FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the client, logged with traceback
            log.exception("job %s failed", self.id)
            self._finish(JobState.FAILED, f"internal error: {exc!r}")
        else:
            self._finish(JobState.DONE)

    def cancel(self) -> None:
        """Ask the job to stop after the frame in progress (finished frames stay on disk)."""
        self.cancel_requested.set()


class JobRegistry:
    """Jobs by id; each asynchronous job runs on its own daemon thread."""

    def __init__(self) -> None:
        self._jobs: dict[str, ServiceJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, job: FrameJob) -> ServiceJob:
        with self._lock:
            service_job = ServiceJob(str(next(self._ids)), job)
            service_job.total = len(job.frames)
            self._jobs[service_job.id] = service_job
            finished = [j for j in self._jobs.values() if j.finished.is_set()]
            for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[old.id]
        return service_job

    def start(self, service_job: ServiceJob) -> None:
        threading.Thread(target=service_job.run, name=f"relume-job-{service_job.id}", daemon=True).start()

    def get(self, job_id: str) -> ServiceJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
