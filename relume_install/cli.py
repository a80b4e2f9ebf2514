"""``python install.py``: arguments and the entry point; exit codes as in :mod:`relume_install.errors`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from relume_host.atomic import exclusive_writer
from relume_host.errors import OutputError
from relume_install.errors import EXIT_FAILED, EXIT_INTERRUPTED, InstallError
from relume_install.record import load_record
from relume_install.runner import install, uninstall
from relume_install.signals import Terminated, rolled_back_on_signals
from relume_install.steps import InstallOptions, Setup

REPO = Path(__file__).resolve().parents[1]   # the checkout this package is in


def parse_args(argv: list[str] | None) -> InstallOptions:
    """The installer's options (``None``: ``sys.argv``); a bad combination exits with code 2."""
    parser = argparse.ArgumentParser(
        prog="install.py",
        description="Install Relume (engine environment, assets, Blender extension, Nuke plugin) for this user.",
        epilog="Exit codes: 0 done or nothing to do, 1 failed (rolled back), 2 usage error, "
               "3 checksum mismatch (rolled back), 4 source refused or unavailable (rolled back), 130 interrupted.")
    parser.add_argument("--dry-run", action="store_true", help="print every action and change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove exactly what this installer added")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask (unattended and farm installs)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch/onnxruntime build; auto = cuda when nvidia-smi is found (default)")
    parser.add_argument("--prefix", metavar="DIR", help="where to create the engine venv (default: per-OS data folder)")
    parser.add_argument("--python", metavar="EXE",
                        help="use this existing Python as the engine's: no venv, nothing installed into it (developers, CI)")
    parser.add_argument("--mirror", metavar="DIR_OR_URL",
                        help="fetch assets from <mirror>/<asset>/<file>: a folder, or an http(s) URL")
    parser.add_argument("--blender", metavar="EXE",
                        help="install through this Blender's `--command extension install-file` (enables the extension)")
    parser.add_argument("--no-blender", action="store_true", help="do not install the Blender extension")
    parser.add_argument("--no-nuke", action="store_true", help="do not touch ~/.nuke/init.py")
    args = parser.parse_args(argv)
    if args.python and args.prefix:
        parser.error("--python and --prefix exclude each other")
    return InstallOptions(**vars(args))


def main(argv: list[str] | None = None, *, repo: Path = REPO) -> int:
    """Command-line entry; ``repo`` is the checkout to install from (tests pass a small one)."""
    options = parse_args(argv)
    try:
        setup = Setup(repo=repo.resolve(), platform=sys.platform, env=os.environ, home=Path.home(), options=options,
                      record={}, warnings=[])
        with rolled_back_on_signals(), \
                exclusive_writer(setup.relume_folder, busy="another Relume install or uninstall is running for this "
                                                         "folder: wait for it to finish, then run this again"):
            setup.record = load_record(setup.record_path)
            return uninstall(setup) if options.uninstall else install(setup)
    except OutputError as exc:          # the lock: held by another run, or the folder cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except Terminated as exc:
        print(f"terminated ({exc}); nothing was changed", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("interrupted; nothing was changed", file=sys.stderr)
        return EXIT_INTERRUPTED
