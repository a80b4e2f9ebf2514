"""How many threads the engine's CPU work may use, and how its idle ones wait."""

from __future__ import annotations

import os
import sys


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one, e.g. a farm slot)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sleep_idle_openmp_threads() -> None:
    """Let torch's idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), for a process whose
    torch work shares the cores with other thread pools: onnxruntime's and the EXR writers' in ``relume reenact``,
    the jobs of ``relume serve``. In ``relume reenact``, which renders each frame's conditioning between the
    network's runs, the spinning after every rasterisation cost 40 % more CPU time (README, *Speed*,
    *150 lights at 1K*); training, torch alone, runs 20-40 % slower without it, so only such processes ask.
    OpenMP reads the variable when torch loads: this must run before that, and a value the user set wins."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
