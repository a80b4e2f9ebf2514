"""Engine commands run one after another from Nuke, with a progress bar and cancel.

Each :class:`Step` is one ``relume`` command line run without ``-q``, so the engine draws its tqdm bars on
stderr; the last bar's ``n/total`` is the step's progress (never shown going back) and its description
the message (``fit (refine) 40/120``). :func:`run_steps` runs the steps in order,
reporting on a ``nuke.ProgressTask`` (cancel terminates the running command; what it finished stays on
disk) and raising EngineError with the engine's own message when a step fails. :func:`start` runs them
on a worker thread in the GUI (the result comes back on the main thread) and blocking under ``nuke -t``.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import nuke
from relume_host.engine import EngineLocation
from relume_nuke.engine_cli import (
    PROBLEMS,
    EngineError,
    engine,
    engine_command,
    error_message,
    farm_command,
    popen_options,
)
from relume_nuke.host import in_gui, in_main_thread

POLL_S = 0.2
_BAR = re.compile(r"([^\r\n|:]*):\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")   # tqdm: "desc:  40%|███   | 4/10 [...]"


class Cancelled(RuntimeError):
    """The artist cancelled; what the engine finished is kept."""


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


def tqdm_status(stderr: str) -> tuple:
    """(fraction, "desc n/total") of the last tqdm bar drawn in ``stderr`` ((0, "") when there is none)."""
    bars = _BAR.findall(stderr[-2000:])
    if not bars:
        return 0.0, ""
    desc, done, total = bars[-1]
    done, total = int(done), int(total)
    return (min(1.0, done / total) if total else 0.0), f"{desc.strip()} {done}/{total}"


@dataclass(frozen=True)
class Step:
    """One engine command: ``name`` (what the progress bar says), the engine's ``arguments`` (after ``relume``;
    paths already through the site's filename filters), the names of the steps it needs (for farm jobs),
    and ``progress(stderr) -> (fraction, message)`` (default: the tqdm count)."""

    name: str
    arguments: tuple
    depends: tuple = ()
    progress: Callable[[str], tuple] = field(default=tqdm_status, compare=False)

    def command(self, location: EngineLocation) -> list:
        """The command line run here by ``location`` (this machine's engine), progress bars on."""
        return engine_command(location, *self.arguments, quiet=False)

    @property
    def farm_command(self) -> list:
        """The command line a farm worker runs (see :func:`relume_nuke.engine_cli.farm_command`)."""
        return farm_command(*self.arguments)


def _run_one(step: Step, index: int, count: int, task) -> None:
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
        location = engine()
        process = subprocess.Popen(step.command(location), stdout=subprocess.DEVNULL, stderr=errors, text=True,
                                   **popen_options(location))
        shown = 0.0
        while process.poll() is None:
            errors.seek(0)
            fraction, detail = step.progress(errors.read())
            shown = max(shown, fraction)     # an engine command may draw several bars in turn: never go back
            task.setMessage(f"{step.name}{': ' + detail if detail else ''}"
                            + (f" (step {index + 1} of {count})" if count > 1 else ""))
            task.setProgress(int(100 * (index + shown) / count))
            if task.isCancelled():
                process.terminate()
                process.wait()
                raise Cancelled(f"{step.name} cancelled{'; ' + detail if detail else ''}; finished files are kept")
            time.sleep(POLL_S)
        errors.seek(0)
        if process.returncode != 0:
            raise EngineError(error_message(errors.read(), process.returncode))


def run_steps(steps: list, task) -> None:
    """Run ``steps`` in order, reporting on ``task`` (ProgressTask or ConsoleProgress)."""
    for index, step in enumerate(steps):
        _run_one(step, index, len(steps), task)
    task.setProgress(100)


def _in_thread(title: str, steps: list, finish) -> None:
    task = nuke.ProgressTask(title)
    try:
        run_steps(steps, task)
        in_main_thread(finish, None)
    except PROBLEMS as exc:
        in_main_thread(finish, exc)
    finally:
        del task  # the progress bar closes when its task object goes away


def start(title: str, steps: list, finish) -> threading.Thread | None:
    """Run ``steps``; then ``finish(problem)`` on the main thread (``problem`` None on success). A worker
    thread in the GUI (returned); blocking under ``nuke -t``, where a problem is also raised."""
    if in_gui():
        worker = threading.Thread(target=_in_thread, args=(title, steps, finish), name=title, daemon=True)
        worker.start()
        return worker
    try:
        run_steps(steps, ConsoleProgress(title))
    except PROBLEMS as exc:
        finish(exc)
        raise
    finish(None)
    return None
