"""Shared fixtures of the engine tests: small real captures (OpenImageIO EXRs), the CLI and the service.

Everything is tiny (32 px, 30 stage lights) so the engine's unit and CLI tests stay fast.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from engine.demo import make_sphere_capture
from engine.io.exr import write_image
from engine.lighting.sphere import fibonacci_sphere
from engine.stage.capture import Capture, write_capture_yaml
from support.service_process import Service

REPO = Path(__file__).resolve().parents[1]
SPHERE_LIGHTS = 30
SPHERE_SIZE = 32


@pytest.fixture(autouse=True)
def default_cache_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches go inside each capture (tests check there) whatever the caller's environment says."""
    monkeypatch.delenv("RELUME_CACHE_DIR", raising=False)


@pytest.fixture(scope="session")
def sphere_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's three-sphere subject as a one-frame (1001) capture; never modify it."""
    folder = tmp_path_factory.mktemp("template") / "capture"
    make_sphere_capture(folder, SPHERE_LIGHTS, SPHERE_SIZE, progress=False)
    return folder


@pytest.fixture
def sphere_capture(sphere_template: Path, tmp_path: Path) -> Path:
    """A private copy of the sphere capture folder, free to be broken or changed by the test."""
    return Path(shutil.copytree(sphere_template, tmp_path / "capture"))


MakeCapture = Callable[..., Capture]


@pytest.fixture
def make_capture(tmp_path: Path) -> MakeCapture:
    """Factory for hand-made captures of random RGBA OLAT images (seeded, so reproducible).

    make_capture(name="capture", frames=(1001,), lights=12, height=16, width=16) -> Capture.
    """

    def make(name: str = "capture", frames: Sequence[int] = (1001,), lights: int = 12,
             height: int = 16, width: int = 16) -> Capture:
        folder = tmp_path / name
        directions = fibonacci_sphere(lights)
        rng = np.random.default_rng(lights * 1000 + height)
        write_capture_yaml(folder, frames, directions, 0.5 + rng.random((lights, 3)))
        capture = Capture.load(folder)
        for frame in frames:
            for index in range(lights):
                write_image(capture.olat_path(index, frame), rng.random((height, width, 4)).astype(np.float32))
        return capture

    return make


RunCli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="session")
def cli() -> RunCli:
    """Run ``python -m engine -q ARGS...`` in a real subprocess; returns the CompletedProcess."""

    def run(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine", "-q", *map(str, args)], cwd=REPO,
                              capture_output=True, text=True, timeout=300)

    return run


@pytest.fixture(scope="session")
def small_target(tmp_path_factory: pytest.TempPathFactory, cli: RunCli) -> dict[str, Path]:
    """A tiny tracked synthetic target and a transferred track (tests/support/small_reenact.py); never modify."""
    from support.small_reenact import make_target

    return make_target(tmp_path_factory.mktemp("reenact"), cli)


@pytest.fixture(scope="session")
def small_model(small_target: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reenactment network trained for a few steps on ``small_target``; never modify."""
    from support.small_reenact import make_model

    return make_model(small_target, tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A ``relume serve`` child process for the module's tests, shut down after them."""
    service = Service(tmp_path_factory.mktemp("service"))
    yield service
    if service.process.poll() is None:
        service.call("POST", "/shutdown", {})
        service.process.wait(10)
