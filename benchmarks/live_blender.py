"""Live relight in real Blender (bpy): the time from an edit to the new plate, as an artist sees it.

    python benchmarks/live_blender.py [--size 512] [--lights 150] [--hdri PATH] [--edits 8]

A ``--size`` px, ``--lights``-light synthetic capture (``benchmarks/relight.py``'s), the extension installed
from its zip into a fresh Blender user folder (``tests/support/blender_child.py``), a scene with a point light
and an HDRI world (``--hdri``, default Blender's bundled 1024 x 512 ``forest.exr``). Live Relight runs; then
each edit (the point light's energy, then the world's rotation) is timed from the edit to the moment the
new plate is applied in Blender: the live timer's tick, the scene read, the HTTP call, the engine's
weights and relight from its cache, the EXR written and reloaded as the Image. The floor is the engine's
own share (``Live: ... relit in``, the HTTP call included). Goal (issue 11): under 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO / "benchmarks"))

import blender_child  # noqa: E402
from relight import make_capture  # noqa: E402

DRIVER = Path(__file__).with_name("live_blender_driver.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--lights", type=int, default=150)
    parser.add_argument("--hdri", type=Path, help="world HDRI (default: Blender's forest.exr)")
    parser.add_argument("--edits", type=int, default=8, help="timed edits of each kind")
    args = parser.parse_args()
    if args.hdri is None:
        import bpy  # only to find Blender's bundled CC0 HDRIs

        args.hdri = Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world")) / "forest.exr"
    work = Path(tempfile.mkdtemp(prefix="relume_live_bench_"))
    capture = make_capture(work / "capture", args.size, args.lights)
    job = {"scenario": "live", "zip": str(blender_child.extension_zip(work)), "capture": str(capture.folder),
           "hdri": str(args.hdri), "edits": args.edits}
    result = blender_child.run_child(DRIVER, job, work, blender_child.blender_env(work / "env"))
    print(f"### Live relight in Blender: {args.size} px, {args.lights} lights, world {args.hdri.name}\n")
    print("| edit | edit to new plate: median (min-max) | engine + HTTP (floor): median | goal |")
    print("|---|---:|---:|---|")
    for kind, rows in result.items():
        total, engine = [r["seconds"] for r in rows], [r["engine"] for r in rows]
        print(f"| {kind} | {statistics.median(total):.3f} s ({min(total):.3f}-{max(total):.3f}) | "
              f"{statistics.median(engine):.2f} s | {'met' if statistics.median(total) < 0.3 else 'MISSED'} |")
    print(f"\n{len(total)} edits of each kind; work folder {work}")


if __name__ == "__main__":
    main()
