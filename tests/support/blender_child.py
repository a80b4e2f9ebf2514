"""Run the Relume Blender extension in fresh bpy child processes, installed the documented way.

Blender's state is global, so each scenario runs in its own process with its own Blender user folder
(BLENDER_USER_RESOURCES) and Relume home (RELUME_HOME, whose ``config.json`` is what install.py writes),
from the extension zip that install.py builds for ``--blender EXE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from relume_install.blender import build_extension_zip, extension_files

REPO = Path(__file__).resolve().parents[2]


def blender_env(root: Path) -> dict:
    """Environment of the Blender children: their own Blender user folder and Relume home under ``root``."""
    home = root / "relume_home"
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({"engine_python": sys.executable, "repo": str(REPO), "device": "cpu"}))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(root / "blender_user"), RELUME_HOME=str(home))
    env.pop("PYTHONPATH", None)
    return env


def extension_zip(folder: Path) -> Path:
    """The extension zip install.py gives Blender (plugin_blender/ plus the shared relume_host package)."""
    path = folder / "relume-0.1.0.zip"
    build_extension_zip(extension_files(REPO), path)
    return path


def run_child(driver: Path, job: dict, work: Path, env: dict) -> dict:
    """Run one ``driver`` scenario in a fresh bpy process; returns the JSON result it wrote."""
    job = {**job, "work": str(work), "result": str(work / f"{job['scenario']}.json")}
    job_path = work / f"{job['scenario']}_job.json"
    job_path.write_text(json.dumps(job))
    done = subprocess.run([sys.executable, str(driver), str(job_path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(Path(job["result"]).read_text())
