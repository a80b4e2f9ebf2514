"""Submit a Relume farm job to Thinkbox Deadline: ``python -m relume_host.deadline JOB.json [options]``.

Run from the Relume checkout (or with it on PYTHONPATH) on any machine with Deadline's client. Each task
of the job (:func:`relume_host.farm.read_job`) becomes one Deadline job of the CommandLine plugin in one
batch: ``Executable`` is the task's first word (``relume``, resolved on the worker's PATH) and
``Arguments`` the rest, quoted for the workers' shell; a task that waits for others gets their job IDs
in ``JobDependencies``, so Deadline runs track before transfer before reenact before the relight chunks.
Jobs are submitted with ``deadlinecommand JOB_INFO PLUGIN_INFO``, Deadline's manual submission, whose
output names the new job's ``JobID``. The IDs are printed (``task<TAB>JobID``), so the studio's own Nuke
render job can be made to wait for the last ones.

Standard library only: the submitter needs neither Nuke nor the engine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from relume_host.errors import RelumeError
from relume_host.farm import FarmTask, command_line, read_job

_JOB_ID = re.compile(r"^JobID=(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class DeadlineSettings:
    """Where the jobs go: Deadline pool and group ("" leaves Deadline's default), priority (0-100), whether the
    workers run Windows (cmd.exe quoting of the arguments), the ``deadlinecommand`` program."""

    pool: str = ""
    group: str = ""
    priority: int = 50
    windows_workers: bool = False
    deadlinecommand: str = "deadlinecommand"


def job_info(task: FarmTask, batch: str, dependencies: Sequence[str], settings: DeadlineSettings) -> str:
    """The job info file of ``task``: one CommandLine job of a single task in ``batch``."""
    lines = ["Plugin=CommandLine", f"Name={batch}: {task.name}", f"BatchName={batch}", "Frames=0", "ChunkSize=1",
             f"Priority={settings.priority}", f"JobDependencies={','.join(dependencies)}"]
    lines += [f"Pool={settings.pool}"] if settings.pool else []
    lines += [f"Group={settings.group}"] if settings.group else []
    return "\n".join(lines) + "\n"


def plugin_info(task: FarmTask, settings: DeadlineSettings) -> str:
    """The CommandLine plugin info file of ``task``: the program and its quoted arguments."""
    arguments = command_line(task.command[1:], windows=settings.windows_workers)
    return f"Executable={task.command[0]}\nArguments={arguments}\nShell=default\nShellExecute=False\n"


def submit(path: str, settings: DeadlineSettings, dry_run: bool = False) -> Dict[str, str]:
    """Submit every task of the job file at ``path`` in order; returns task name -> Deadline job ID (with
    ``dry_run``, placeholders, and nothing is submitted). RelumeError naming the task when Deadline refuses."""
    tasks = read_job(path)
    batch = os.path.splitext(os.path.splitext(os.path.basename(path))[0])[0]
    ids: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="relume-deadline-") as folder:
        for index, task in enumerate(tasks):
            infos = [os.path.join(folder, f"{index}.job_info.job"), os.path.join(folder, f"{index}.plugin_info.job")]
            for info, text in zip(infos, (job_info(task, batch, [ids[d] for d in task.depends], settings),
                                          plugin_info(task, settings))):
                with open(info, "w", encoding="utf-8") as handle:
                    handle.write(text)
            ids[task.name] = f"<{task.name}>" if dry_run else _submit_one(settings.deadlinecommand, infos, task)
    return ids


def _submit_one(deadlinecommand: str, infos: List[str], task: FarmTask) -> str:
    try:
        done = subprocess.run([deadlinecommand, *infos], capture_output=True, text=True, timeout=300, check=False)
    except OSError as exc:
        raise RelumeError(deadlinecommand, f"cannot run Deadline's command ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise RelumeError(deadlinecommand, f"task {task.name!r}: no answer within 300 s") from None
    found = _JOB_ID.search(done.stdout)
    if done.returncode != 0 or found is None:
        said = " | ".join(line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip())[-300:]
        raise RelumeError(deadlinecommand, f"task {task.name!r} not submitted (exit {done.returncode}): {said}")
    return found.group(1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relume_host.deadline", description=__doc__.split("\n\n")[0])
    parser.add_argument("job", help="the farm job Relume wrote: <output folder>/farm/<name>.job.json")
    parser.add_argument("--pool", default="", help="Deadline pool (default: Deadline's)")
    parser.add_argument("--group", default="", help="Deadline group (default: Deadline's)")
    parser.add_argument("--priority", type=int, default=50, choices=range(101), metavar="0-100")
    parser.add_argument("--windows-workers", action="store_true", help="quote the arguments for cmd.exe")
    parser.add_argument("--deadlinecommand", default=os.environ.get("DEADLINE_COMMAND", "deadlinecommand"),
                        help="Deadline's command-line program (default: $DEADLINE_COMMAND, else deadlinecommand)")
    parser.add_argument("--dry-run", action="store_true", help="check the job and print the tasks; submit nothing")
    args = parser.parse_args(argv)
    settings = DeadlineSettings(args.pool, args.group, args.priority, args.windows_workers, args.deadlinecommand)
    try:
        ids = submit(args.job, settings, dry_run=args.dry_run)
    except RelumeError as exc:
        print(f"relume: error: {exc}", file=sys.stderr)
        return 2
    for name, job_id in ids.items():
        print(f"{name}\t{job_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
