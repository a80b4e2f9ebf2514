"""Writes ``gizmos/Relume_Relight.gizmo`` from ``Relume_Relight.gizmo.in`` (run after editing either):

    python gizmos/src/relight_gizmo.py

The live graph is static, so nothing inside the node is built by Python: a script opens, pastes and
renders on the farm with the graph the .gizmo file describes. It has SLOTS stage-light slots. Slot i:

* ``Read relume_olat_<i>``: file ``[value parent.olat_<i>]`` (the stage light's ``####`` sequence,
  written into the node's hidden ``olat_<i>`` knob when a capture is chosen), frames
  ``parent.capture_first``-``parent.capture_last``, ``raw``; disabled by expression when the slot is
  beyond the capture's light count or its weight is 0 at the frame rendered (slot 0 only for the
  former: its alpha is the output's, as in the engine);
* ``Multiply relume_w_<i>``: channels rgb, value ``parent.w_<i>.r/g/b`` (the node's hidden colour knob
  ``w_<i>``, keyed per frame when the lighting animates).

A fixed balanced tree of ``Merge2 relume_sum_<level>_<n>`` (plus, output rgb) sums the slots with slot 0 on
every B side, so alpha passes down from slot 0. ``Read relume_matte`` (file ``[value parent.matte_file]``)
replaces alpha through ``Copy relume_matte_alpha`` or ``Copy relume_matte_red``, picked by ``Switch
relume_live`` (``which`` = ``parent.matte_channel``: 0 none, 1 the matte's alpha, 2 its red). In .nk text
the node on top of the stack becomes input 0, so each Merge pushes its A input, then its B input.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "Relume_Relight.gizmo.in"
OUTPUT = HERE.parent / "Relume_Relight.gizmo"
SLOTS = 256
COLUMN, ROW = 110, 90


def slot_knobs(slots: int) -> str:
    lines = []
    for i in range(slots):
        lines += [f" addUserKnob {{18 w_{i:03d} +INVISIBLE}}", f" addUserKnob {{1 olat_{i:03d} +INVISIBLE}}"]
    return "\n".join(lines)


def _node(kind: str, knobs: list, x: int, y: int, inputs: int | None = None) -> list:
    head = [f" {kind} {{"] + ([f"  inputs {inputs}"] if inputs is not None else [])
    return head + [f"  {knob}" for knob in knobs] + [f"  xpos {x}", f"  ypos {y}", " }"]


def _merge_tree(names: list) -> tuple[list, str]:
    """Merge(plus) lines summing ``names`` pairwise, the first name on every B side; the root's name."""
    lines, level, depth = [], names, 0
    while len(level) > 1:
        merged = []
        for pair in range(0, len(level), 2):
            if pair + 1 == len(level):
                merged.append(level[pair])
                continue
            name = f"relume_sum_{depth}_{pair // 2}"
            lines += [f"push $N{level[pair + 1]}", f"push $N{level[pair]}"]
            lines += _node("Merge2", ["operation plus", "output rgb", f"name {name}"],
                           pair * COLUMN * 2 ** depth, (2 + depth) * ROW, inputs=2)
            lines.append(f"set N{name} [stack 0]")
            merged.append(name)
        level, depth = merged, depth + 1
    return lines, level[0]


def slot_nodes(slots: int) -> str:
    lines = []
    frames = ["first {{parent.capture_first}}", "last {{parent.capture_last}}"]
    for i in range(slots):
        weight = f"parent.w_{i:03d}"
        off = "parent.light_count<=0" if i == 0 else \
            f"parent.light_count<={i}||({weight}.r==0&&{weight}.g==0&&{weight}.b==0)"
        lines += _node("Read", [f'file "\\[value parent.olat_{i:03d}]"', *frames, "raw true",
                                f"disable {{{{{off}}}}}", f"name relume_olat_{i:03d}"], i * COLUMN, 0, inputs=0)
        lines += _node("Multiply", ["channels rgb", f"value {{{{{weight}.r}} {{{weight}.g}} {{{weight}.b}} 1}}",
                                    f"name relume_w_{i:03d}"], i * COLUMN, ROW)
        lines.append(f"set Nrelume_w_{i:03d} [stack 0]")
    tree, root = _merge_tree([f"relume_w_{i:03d}" for i in range(slots)])
    lines += tree
    y = (3 + slots.bit_length()) * ROW
    lines += _node("Read", ['file "\\[value parent.matte_file]"', *frames, "raw true",
                            "disable {{parent.matte_channel==0}}", "name relume_matte"], -2 * COLUMN, y - ROW, inputs=0)
    lines.append("set Nrelume_matte [stack 0]")
    for n, channel in enumerate(("alpha", "red")):
        lines += ["push $Nrelume_matte", f"push $N{root}"]
        lines += _node("Copy", [f"from0 rgba.{channel}", "to0 rgba.alpha", f"name relume_matte_{channel}"],
                       n * COLUMN, y, inputs=2)
        lines.append(f"set Nrelume_matte_{channel} [stack 0]")
    lines += ["push $Nrelume_matte_red", "push $Nrelume_matte_alpha", f"push $N{root}"]
    lines += _node("Switch", ["which {{parent.matte_channel}}", "name relume_live"], 0, y + ROW, inputs=3)
    return "\n".join(lines)


def render(slots: int = SLOTS) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    return (text.replace("@SLOT_KNOBS@", slot_knobs(slots)).replace("@SLOT_NODES@", slot_nodes(slots))
            .replace("@SLOTS@", str(slots)))


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
