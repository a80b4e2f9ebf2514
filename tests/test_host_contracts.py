"""The engine, both adapters and the installer read the host contracts from one place: ``relume_host``.

Issue 14: config discovery, the engine's command and environment, frame fields, atomic writes and job states
were once written in each of them and had drifted (the Nuke plug-in ignored ``$RELUME_HOME`` and the config's
``repo``). This test fails when a copy comes back: it reads every module of each part for definitions of the
shared concepts, for the environment variables' names, and for hand-made temp-and-rename writes; then it checks
that each part really runs on relume_host (the Nuke plug-in's engine, the Blender extension's copy of the
package, the engine's frame fields).
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

import pytest

import relume_host
from relume_host.engine import find_engine
from relume_host.frames import frame_path

REPO = Path(__file__).resolve().parents[1]
PARTS = {"engine": REPO / "engine", "nuke": REPO / "plugin_nuke", "blender": REPO / "plugin_blender",
         "installer": REPO / "relume_install"}
# Concepts relume_host defines, which no part may define again.
SHARED_NAMES = {"relume_home", "config_path", "assets_dir", "read_config", "find_engine", "EngineLocation",
                "EngineNotFound", "HOST_PYTHON_VARIABLES", "frame_path", "output_stem", "has_frame_field",
                "atomic_path", "write_bytes_atomic", "write_text_atomic", "remove_stale_temporaries",
                "exclusive_writer", "process_alive", "command_line", "write_job_files", "read_job", "JobState", "WeightMethod", "DEFAULT_WEIGHT_METHOD", "RelumeError", "InputError", "OutputError", "lights_document", "lights_text"}
SHARED_STRINGS = {"RELUME_HOME", "RELUME_ENGINE_PYTHON", "barycentric", "voronoi", "queued", "running", "cancelled"}
# The installer's own file primitives: rewriting an artist's init.py in place (its inode, owner and mode stay
# the artist's) and moving files aside for rollback are not atomic writes of new output.
RENAMES_ALLOWED = {"relume_install/fileops.py", "relume_install/journal.py"}


def definitions(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level or in its classes: functions, classes, assigned names (a function's
    local variables are its own business)."""
    names, bodies = set(), [tree.body]
    while bodies:
        for node in bodies.pop():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    bodies.append(node.body)
            elif isinstance(node, ast.Assign):
                names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def renames(tree: ast.AST) -> list[int]:
    """Lines calling ``os.replace`` or ``os.rename`` (a temporary renamed over the output)."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr in ("replace", "rename")
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "os"]


def strings(tree: ast.AST) -> set[str]:
    """String constants in code, docstrings left out (they may name the variables they document)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_no_part_keeps_its_own_copy_of_a_host_contract(part: str) -> None:
    sources = sorted(PARTS[part].rglob("*.py"))
    assert sources
    found = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(REPO).as_posix()
        found += [f"{rel} defines {name}" for name in sorted(definitions(tree) & SHARED_NAMES)]
        found += [f"{rel} names ${name}" for name in sorted(strings(tree) & SHARED_STRINGS)]
        if rel not in RENAMES_ALLOWED:
            found += [f"{rel}:{line} renames a temporary by hand" for line in renames(tree)]
    assert not found, "a copy of a relume_host contract:\n" + "\n".join(found)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_uses_relume_host(part: str) -> None:
    imported = set()
    for path in PARTS[part].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0] if node.level == 0 else node.module.split(".")[0])
    assert "relume_host" in imported


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Relume home whose config.json names this Python and a repo; the host's Python variables set."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("RELUME_HOME", str(tmp_path / "studio"))
    monkeypatch.delenv("RELUME_ENGINE_PYTHON", raising=False)
    for variable in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONNOUSERSITE"):
        monkeypatch.setenv(variable, "host-value")
    (tmp_path / "studio").mkdir()
    (tmp_path / "studio" / "config.json").write_text(json.dumps({"engine_python": sys.executable,
                                                                 "repo": str(tmp_path / "repo")}))
    return tmp_path


def test_the_nuke_plugin_runs_the_engine_relume_host_finds(configured: Path) -> None:
    sys.path.insert(0, str(PARTS["nuke"]))
    from relume_nuke import engine_cli

    location = engine_cli.engine()
    assert location == find_engine()
    options = engine_cli.popen_options(location)
    assert options["env"] == location.environment() and options["env"]["PYTHONPATH"] == str(configured / "repo")
    assert engine_cli.engine_command(location, "weights", quiet=False) == location.command("weights")


def test_the_blender_extension_carries_relume_host_unchanged(tmp_path: Path) -> None:
    """install.py copies the checkout's relume_host into the extension (an extension is self-contained), and the
    add-on imports that copy relatively."""
    from relume_install.blender import build_extension_zip, extension_files

    build_extension_zip(extension_files(REPO), tmp_path / "relume.zip")
    with zipfile.ZipFile(tmp_path / "relume.zip") as archive:
        for source in Path(relume_host.__file__).parent.glob("*.py"):
            assert archive.read(f"relume_host/{source.name}") == source.read_bytes()
        assert "blender_manifest.toml" in archive.namelist()
    relative = [path for path in PARTS["blender"].rglob("*.py")
                if any(isinstance(node, ast.ImportFrom) and node.level > 0 and (node.module or "").startswith("relume_host")
                       for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert relative, "the add-on must import its bundled relume_host"


@pytest.mark.parametrize("pattern", ["/s/relit.####.exr", "/s/shot#1/relit.%04d.exr", "/s/still.exr"])
def test_the_engine_expands_frame_fields_as_relume_host_does(pattern: str) -> None:
    from engine.relight.job import frame_output_path

    assert frame_output_path(pattern, 1001) == Path(frame_path(pattern, 1001))


def test_both_hosts_offer_the_engines_weight_methods_default_first() -> None:
    """The Nuke gizmo's pulldown (its first entry is a new node's value) and the Blender setting list exactly
    relume_host's WeightMethod values, the default first."""
    import re

    from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD, WeightMethod

    expected = [DEFAULT_WEIGHT_METHOD.value] + [m.value for m in WeightMethod if m is not DEFAULT_WEIGHT_METHOD]
    for gizmo in (REPO / "gizmos" / "Relume_Relight.gizmo", REPO / "gizmos" / "src" / "Relume_Relight.gizmo.in"):
        pulldown = re.search(r"addUserKnob \{4 method .* M \{([^}]*)\}\}", gizmo.read_text(encoding="utf-8"))
        assert pulldown and pulldown[1].split() == expected, gizmo
    settings = ast.parse((PARTS["blender"] / "relight" / "settings.py").read_text(encoding="utf-8"))
    items = next(node.value for node in settings.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "METHODS" for t in node.targets))
    keys = [ast.unparse(item.elts[0]) for item in items.elts]
    assert keys == [f"WeightMethod.{m.name}.value" for m in WeightMethod]
