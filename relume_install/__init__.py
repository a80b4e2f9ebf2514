"""Relume installer: one command sets an artist up; ``--uninstall`` takes back exactly what it added.

``python install.py`` (from a Relume checkout) runs :func:`relume_install.cli.main`, which:

1. creates the engine's Python environment (a venv in the OS's per-user data folder, ``--prefix``
   to move it) with the pinned packages, CPU or CUDA builds of torch/onnxruntime (``--device``);
2. fetches the files in ``assets.json`` into ``~/.relume/assets`` with a progress bar, HTTP Range
   resume and sha256 verification (``--mirror DIR_OR_URL`` for studios without internet);
3. writes ``~/.relume/config.json``: which Python runs the engine (both plugins read it);
4. installs the Blender extension into every Blender 4.2+ user folder, or through Blender's own
   ``extension install-file`` command with ``--blender EXE``;
5. appends a marked block to ``~/.nuke/init.py`` adding Relume's plugin and gizmo folders.

Everything added is listed in ``~/.relume/install_record.json``. A failed run rolls back what it did;
a second run does only what changed. Standard library only, plus ``requests`` for downloads
(imported when a download starts, taken from the engine venv when this Python lacks it): nothing
here may import numpy, torch or the rest of the engine, which are not installed yet.

Modules: :mod:`cli` (arguments, entry point), :mod:`runner` (plan, confirm, run, roll back),
:mod:`steps` (what a step is, shared step helpers), one planner per thing installed
(:mod:`engine_env`, :mod:`assets`, :mod:`plugin_config`, :mod:`blender`, :mod:`nuke`), and their tools
(:mod:`platform_paths`, :mod:`manifest`, :mod:`sources`, :mod:`download`, :mod:`progress`,
:mod:`journal`, :mod:`fileops`, :mod:`record`, :mod:`errors`). Exit codes are in :mod:`errors`.
"""
