"""The engine's Python: a venv with the pinned packages (CPU or CUDA torch/onnxruntime), or ``--python``."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path, PurePath

from relume_install.errors import UsageError
from relume_install.journal import Journal
from relume_install.platform_paths import default_venv_dir, os_family, user_path, venv_python
from relume_install.steps import Setup, Step, digest, place_new

# Where torch comes from when PyPI's default build is the wrong one: PyPI's Linux wheels bundle CUDA
# (gigabytes a CPU machine does not need) and its Windows wheels are CPU-only.
TORCH_INDEX = {
    ("linux", "cpu"): "https://download.pytorch.org/whl/cpu",
    ("win32", "cuda"): "https://download.pytorch.org/whl/cu128",
}


def resolve_device(choice: str, platform: str) -> str:
    """``cpu`` or ``cuda`` from ``--device``; ``auto``: CUDA when ``nvidia-smi`` is on PATH (never on macOS)."""
    if choice == "cuda" and os_family(platform) == "darwin":
        raise UsageError("--device", "CUDA builds of torch do not exist for macOS; use --device cpu")
    if choice == "auto":
        return "cuda" if os_family(platform) != "darwin" and shutil.which("nvidia-smi") else "cpu"
    return choice


NO_DEPS_REQUIREMENTS = "requirements-tracking.txt"
BUILDING = ".relume-building"           # in a venv the installer has not finished


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file, comments and blanks dropped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]*", requirement)[0].lower()


def pip_commands(python: PurePath, platform: str, device: str, requirements: list[str], repo: Path) -> list[list[str]]:
    """pip commands that fill the venv: torch from the right index first, then the pins, the pins installed
    without their declared dependencies (``requirements-tracking.txt``), then the engine, and last the engine's
    bytecode compiled: an install a farm reads from a read-only share, or run under ``PYTHONDONTWRITEBYTECODE``,
    would otherwise compile its modules again on every ``relume`` call (about 45 ms of a 0.45 s relight)."""
    pip = [str(python), "-m", "pip", "install"]
    if device == "cuda":
        requirements = ["onnxruntime-gpu" + r[len("onnxruntime"):] if _requirement_name(r) == "onnxruntime" else r
                        for r in requirements]
    commands = []
    index = TORCH_INDEX.get((os_family(platform), device))
    torch = [r for r in requirements if _requirement_name(r) == "torch"]
    if index and torch:
        commands.append([*pip, *torch, "--index-url", index])
    if requirements:
        commands.append([*pip, *requirements])
    if (repo / NO_DEPS_REQUIREMENTS).is_file():  # MediaPipe's declared deps (jax, opencv-contrib) are not wanted
        commands.append([*pip, "--no-deps", "-r", str(repo / NO_DEPS_REQUIREMENTS)])
    if (repo / "pyproject.toml").is_file():
        commands.append([*pip, "--no-deps", "-e", str(repo)])
        commands.append([str(python), "-m", "compileall", "-q", str(repo / "engine"), str(repo / "relume_host")])
    return commands


def requires_python(pyproject: Path) -> str:
    """The ``requires-python`` specifier of pyproject.toml ("" when absent)."""
    text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    match = re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.MULTILINE)
    return match[1] if match else ""


def python_satisfies(spec: str, version: tuple[int, int]) -> bool:
    """Whether ``major.minor`` meets a specifier made of ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=`` clauses."""
    compare = {">=": tuple.__ge__, ">": tuple.__gt__, "<=": tuple.__le__, "<": tuple.__lt__,
               "==": tuple.__eq__, "!=": tuple.__ne__}
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*(\d+)\.(\d+)(?:\.\*)?", clause)
        if match and not compare[match[1]](version, (int(match[2]), int(match[3]))):
            return False
    return True


def plan_engine(s: Setup) -> tuple[Step, Path, str]:
    """The engine step, the engine's Python and the device (``cpu``/``cuda``) it is built for."""
    device = resolve_device(s.options.device, s.platform)
    if s.options.python:
        python = user_path(s.options.python)
        if not python.is_file():
            raise UsageError("--python", f"{python} is not a file")
        return Step("engine", f"Engine Python {python} (from --python: no venv, nothing installed into it)",
                    digest(python, device), lambda journal: []), python, device
    wanted = requires_python(s.repo / "pyproject.toml")
    if not python_satisfies(wanted, sys.version_info[:2]):
        raise UsageError(sys.executable, f"is Python {sys.version_info[0]}.{sys.version_info[1]}; the engine needs "
                                         f"Python {wanted} (pyproject.toml): run install.py with that Python")
    venv = user_path(s.options.prefix) if s.options.prefix else Path(default_venv_dir(s.platform, s.env, s.home))
    python = Path(venv_python(venv, s.platform))
    commands = pip_commands(python, s.platform, device, read_requirements(s.repo / "requirements.txt"), s.repo)
    pyproject = s.repo / "pyproject.toml"
    fingerprint = digest(venv, sys.executable, commands, pyproject.read_bytes() if pyproject.is_file() else "")

    def apply(journal: Journal) -> list[dict]:
        if journal.exists(venv / BUILDING) and not s.owns("engine"):
            print(f"    {venv}: a half-built environment left by an interrupted run; removing it")
            journal.trash(venv)
        items = place_new(journal, venv, lambda: journal.run_creating([sys.executable, "-m", "venv", str(venv)], venv))
        marker = venv / BUILDING                # says "ours, unfinished" until every pip command has run
        if not journal.dry_run:
            marker.write_text("the Relume installer is building this environment; an interrupted run leaves this "
                              "file, and the next run removes the folder\n")
        for command in commands:
            journal.run(command)
        if not journal.dry_run:
            marker.unlink()
        return items

    return Step("engine", f"Engine environment {venv} ({device})", fingerprint, apply), python, device
