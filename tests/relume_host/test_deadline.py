"""The Deadline submitter, against a stand-in ``deadlinecommand`` that records what it is given and answers as
Deadline's manual submission does (``JobID=...`` on stdout)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from relume_host.deadline import DeadlineSettings, main, submit
from relume_host.errors import RelumeError
from relume_host.farm import command_line, read_job, write_job_files

FAKE_DEADLINECOMMAND = """#!{python}
import json, os, sys
log = os.environ["FAKE_DEADLINE_LOG"]
entries = json.load(open(log)) if os.path.exists(log) else []
if os.environ.get("FAKE_DEADLINE_REFUSE") and len(entries) == 1:
    print("Error: pool 'comp' does not exist")
    sys.exit(1)
entries.append({{"args": sys.argv[1:], "files": [open(p, encoding="utf-8").read() for p in sys.argv[1:]]}})
json.dump(entries, open(log, "w"))
print("Result=Success")
print("JobID=job%02d" % len(entries))
"""


def info(text: str) -> dict:
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.fixture
def deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    program = tmp_path / "deadlinecommand"
    program.write_text(FAKE_DEADLINECOMMAND.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_DEADLINE_LOG", str(tmp_path / "log.json"))
    return program


@pytest.fixture
def reenact_job(tmp_path: Path) -> Path:
    """A reenactment job as the Nuke plug-in writes it (relume_host.farm's writer, the same task layout)."""
    tasks = [{"name": "track", "command": ["relume", "-q", "track", "/p/plate.####.exr", "--out", "/w/s.track"],
              "depends": []},
             {"name": "track target", "command": ["relume", "-q", "track", "/cap"], "depends": []},
             {"name": "transfer", "command": ["relume", "-q", "transfer", "/w/s.track"],
              "depends": ["track", "track target"]},
             {"name": "reenact", "command": ["relume", "-q", "reenact", "/m", "--out", "/w/my shot"],
              "depends": ["transfer"]},
             {"name": "relight R1 1001-1005", "command": ["relume", "-q", "relight", "/w/my shot", "--frames",
                                                           "1001-1005"], "depends": ["reenact"]}]
    job, _ = write_job_files(str(tmp_path / "farm"), "reenact", {"format": 2, "kind": "relume-reenact", "tasks": tasks},
                             [task["command"] for task in tasks])
    return Path(job)


def test_each_task_becomes_a_commandline_job_waiting_for_its_dependencies(deadline: Path, reenact_job: Path,
                                                                          tmp_path: Path) -> None:
    ids = submit(str(reenact_job), DeadlineSettings(pool="comp", priority=70, deadlinecommand=str(deadline)))
    assert ids == {"track": "job01", "track target": "job02", "transfer": "job03", "reenact": "job04",
                   "relight R1 1001-1005": "job05"}
    entries = json.loads((tmp_path / "log.json").read_text())
    jobs = [info(entry["files"][0]) for entry in entries]
    plugins = [info(entry["files"][1]) for entry in entries]
    assert [job["JobDependencies"] for job in jobs] == ["", "", "job01,job02", "job03", "job04"]
    assert {job["Plugin"] for job in jobs} == {"CommandLine"} and {job["BatchName"] for job in jobs} == {"reenact"}
    assert jobs[0]["Pool"] == "comp" and jobs[0]["Priority"] == "70" and "Group" not in jobs[0]
    tasks = read_job(str(reenact_job))
    for task, plugin in zip(tasks, plugins):                # what the worker runs is the task's command, exactly
        assert [plugin["Executable"], *shlex.split(plugin["Arguments"])] == list(task.command)
    assert "'/w/my shot'" in plugins[3]["Arguments"]


def test_commands_file_and_job_agree_and_windows_quoting(reenact_job: Path) -> None:
    lines = (reenact_job.parent / "reenact.commands.txt").read_text().splitlines()
    assert [shlex.split(line) for line in lines] == [list(task.command) for task in read_job(str(reenact_job))]
    assert command_line(["relume", "--out", "C:/my shot"], windows=True) == 'relume --out "C:/my shot"'


def test_a_refused_submission_names_the_task_and_exits_2(deadline: Path, reenact_job: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("FAKE_DEADLINE_REFUSE", "1")
    assert main([str(reenact_job), "--deadlinecommand", str(deadline)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"relume: error: {deadline}: task 'track target' not submitted (exit 1)")
    assert "pool 'comp' does not exist" in error
    with pytest.raises(RelumeError, match="cannot run Deadline's command"):
        submit(str(reenact_job), DeadlineSettings(deadlinecommand=str(deadline.parent / "missing")))


def test_bad_job_files_are_refused_before_anything_is_submitted(tmp_path: Path, deadline: Path) -> None:
    cases = {"not_json": "{", "old": json.dumps({"format": 1, "chunks": []}),
             "order": json.dumps({"format": 2, "tasks": [{"name": "b", "command": ["relume"], "depends": ["a"]},
                                                          {"name": "a", "command": ["relume"], "depends": []}]})}
    expected = {"not_json": "unreadable farm job", "old": "not a Relume farm job of format 2",
                "order": "task 'b' waits for a, not before it"}
    for name, text in cases.items():
        path = tmp_path / f"{name}.job.json"
        path.write_text(text)
        with pytest.raises(RelumeError, match=expected[name]):
            submit(str(path), DeadlineSettings(deadlinecommand=str(deadline)))
    assert not (tmp_path / "log.json").exists()


def test_the_command_line_entry_point_runs_from_the_checkout(deadline: Path, reenact_job: Path) -> None:
    """``python -m relume_host.deadline`` with the checkout as working folder, as a pipeline TD runs it."""
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-m", "relume_host.deadline", str(reenact_job), "--dry-run"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == "transfer\t<transfer>"
