"""The tiny reenactment set-up the reenact, service and Blender performer tests share.

A synthetic target (128 px, 12 stage lights, 8 frames, seed 3) tracked with ``relume track``, a source
video tracked and transferred onto it, and a network trained for four steps on 64 px crops: enough to
exercise the machinery, not to judge quality (that is ``benchmarks/reenact.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from engine.reenact.settings import NetworkConfig, TrainSettings
from engine.reenact.train import train
from engine.synth.generate import SynthOptions, generate

SETTINGS = TrainSettings(steps=4, batch=1, crop=64, checkpoint_every=2,
                         network=NetworkConfig(rank=6, width=8, levels=2, texture=4, texture_size=32))
# what ``relume train`` can set of SETTINGS: a tiny network on the same crops
TRAIN_ARGS = ("--rank", "6", "--width", "8", "--crop", "64", "--batch", "1")
REPO = Path(__file__).resolve().parents[2]


def make_target(root: Path, cli: Callable) -> dict[str, Path]:
    """Capture, its track (``target``), the source video's track (``source``) and the transfer (``result``)."""
    capture = root / "capture"
    generate(SynthOptions(out=capture, lights_count=12, frames=8, size=128, seed=3, source_video=True, progress=False))
    paths = {"capture": capture, "target": root / "target.track", "source": root / "source.track",
             "result": root / "result.track"}
    for args in (("track", capture, "--out", paths["target"]),
                 ("track", capture / "source/frames/frame.####.png", "--out", paths["source"]),
                 ("transfer", paths["source"], "--onto", paths["target"], "--out", paths["result"])):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
    return paths


def make_model(target: dict[str, Path], out: Path) -> Path:
    """The network trained on ``target`` with :data:`SETTINGS` into the model folder ``out``."""
    train(target["capture"], target["target"], out, SETTINGS, progress=False)
    return out


def train_command(target: dict[str, Path], out: Path, *args: str) -> list[str]:
    """``-m engine -q train`` of the tiny network on ``target`` into ``out``, ``args`` more ``relume train`` options:
    the arguments after a Python (or torchrun) executable."""
    return ["-m", "engine", "-q", "train", str(target["capture"]), "--track", str(target["target"]), "--out", str(out),
            *TRAIN_ARGS, *args]


def torchrun_train(target: dict[str, Path], out: Path, processes: int, port: int, *args: str,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node PROCESSES -m engine train`` of the tiny network on ``target`` into ``out``, one
    OpenMP thread per process; ``args`` are more ``relume train`` options, ``env`` more environment."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr",
               "127.0.0.1", "--master_port", str(port), *train_command(target, out, *args)]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})),
                          capture_output=True, text=True, timeout=600)
