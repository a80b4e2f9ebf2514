"""``relume serve`` command-line wiring. Imports nothing heavy: the server loads on first use."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cores import sleep_idle_openmp_threads

DEVICES = ("auto", "cpu", "cuda")


def run_serve(args: argparse.Namespace) -> int:
    sleep_idle_openmp_threads()                 # its jobs share the cores with other thread pools; before torch loads
    from engine.service.server import serve

    serve(args.port, args.token_file, parent_pid=args.parent_pid, device=args.device, quiet=args.quiet,
          log_file=args.log_file)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``serve`` subcommand on the main parser's subparsers."""
    serve = subparsers.add_parser("serve", help="run the local HTTP service the Blender and Nuke plugins use")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    serve.add_argument("--token-file", type=Path, required=True,
                       help="file that receives {port, token, pid} (mode 0600) once the service is ready")
    serve.add_argument("--parent-pid", type=int, help="exit when this process (the host application) ends")
    serve.add_argument("--log-file", type=Path,
                       help="write the service's log (and what it prints) here, rotated at 1 MiB, 2 old ones kept")
    serve.add_argument("--device", choices=DEVICES, default="auto",
                       help="compute device to validate and report (relighting runs on the CPU today)")
    serve.set_defaults(handler=run_serve)
    return serve
