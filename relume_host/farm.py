"""Farm job files: what the Nuke plug-in's *Write farm jobs* writes and a farm manager's submitter reads.

``<folder>/<stem>.job.json`` describes the job (``"format": 2``); ``<stem>.commands.txt`` holds the same
command lines, one per line, in an order that respects the dependencies (a farm without dependencies
can run them one after another). Two kinds of job:

- a relight (Relume_Relight): ``chunks``, each ``{"frames": "A-B", "command": [...]}``, independent;
- a reenactment (Relume_Reenact, ``"kind": "relume-reenact"``): ``tasks``, each ``{"name", "command",
  "depends": [names]}``, in dependency order.

Each command starts with ``relume`` (the engine's own command, resolved on the worker's PATH).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from relume_host.atomic import write_text_atomic
from relume_host.errors import InputError

JOB_FORMAT = 2


@dataclass(frozen=True)
class FarmTask:
    """One command of a farm job: its ``name``, the argument list, and the names of the tasks it waits for."""

    name: str
    command: Tuple[str, ...]
    depends: Tuple[str, ...] = ()


def command_line(command: Sequence[str], windows: bool = sys.platform == "win32") -> str:
    """One shell command line for ``command``: cmd.exe quoting for Windows, POSIX quoting elsewhere."""
    return subprocess.list2cmdline(list(command)) if windows else " ".join(map(shlex.quote, command))


def write_job_files(folder: str, stem: str, job: dict, commands: Sequence[Sequence[str]]) -> Tuple[str, str]:
    """``<folder>/<stem>.job.json`` (``job``) and ``<stem>.commands.txt`` (one line per command, in an order
    that respects dependencies), each written atomically; returns both paths."""
    job_path = os.path.join(folder, f"{stem}.job.json")
    commands_path = os.path.join(folder, f"{stem}.commands.txt")
    write_text_atomic(job_path, json.dumps(job, indent=1))
    write_text_atomic(commands_path, "".join(command_line(command) + "\n" for command in commands))
    return job_path, commands_path


def read_job(path: str) -> List[FarmTask]:
    """The tasks of a job file, in an order that respects their dependencies (InputError naming the file when
    it is not a Relume farm job, or a task waits for one that is not before it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            job = json.load(handle)
    except FileNotFoundError:
        raise InputError(path, "farm job not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable farm job ({exc})") from None
    if not isinstance(job, dict) or job.get("format") != JOB_FORMAT:
        raise InputError(path, f"not a Relume farm job of format {JOB_FORMAT} (write the farm job again)")
    try:
        if "tasks" in job:
            tasks = [FarmTask(str(t["name"]), tuple(map(str, t["command"])), tuple(map(str, t.get("depends", ()))))
                     for t in job["tasks"]]
        else:
            tasks = [FarmTask(f"relight {c['frames']}", tuple(map(str, c["command"]))) for c in job["chunks"]]
    except (KeyError, TypeError) as exc:
        raise InputError(path, f"malformed farm job ({exc!r})") from None
    seen = set()
    for task in tasks:
        missing = [name for name in task.depends if name not in seen]
        if missing or not task.command:
            problem = f"waits for {', '.join(missing)}, not before it" if missing else "has no command"
            raise InputError(path, f"task {task.name!r} {problem}")
        seen.add(task.name)
    if not tasks:
        raise InputError(path, "farm job has no tasks")
    return tasks
