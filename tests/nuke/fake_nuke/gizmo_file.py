""".gizmo files: parsing (with nkparser) and instantiating them as fake Nuke nodes.

A .gizmo is .nk syntax: ``Gizmo { knobs }``, the nodes inside (a stack language: each node takes
its inputs from the top of the stack, ``set``/``push`` name stack entries), then ``end_group``.
Nuke gives the node on top of the stack input 0, the one below it input 1, and so on; nkparser pops
the other way (top of stack = last input), so :func:`nuke_inputs` reverses its lists. Checked on
Nuke-written scripts: in ``hakeesh/.nuke`` ``python/KeyingTemplate.py`` (``version 12.2 v2``) a
``Keymix {inputs 3}`` follows a blurred Roto, a Constant and a graded CheckerBoard, which Nuke's order
makes B = the CheckerBoard, A = the Constant, mask = the blurred Roto; and Nuke writes ``push 0``
right before ``ScanlineRender {inputs 3}``, the empty ``bg`` input 0 (``tests/nuke/test_nuke_gizmo.py``
checks both shapes).
nkparser models a group as nested braces, so the trailing ``end_group`` (which Nuke writes after the
group's nodes, not inside its braces) is checked here and stripped before nkparser parses the rest.
User knobs are ``addUserKnob {TYPE name [l label] [t tooltip] [R min max] [M {items}] [T text]
[+FLAG|-FLAG]...}``, each optionally followed by a ``name value`` line; the types used are
1 String, 2 File, 3 Int, 4 Enumeration, 6 Boolean, 7 Double, 13 XYZ, 18 Color, 20 Tab, 22 Python button,
26 Text (the numbers Nuke writes into .nk files).

Knob values: a number, ``true``/``false``, a string, or a TCL list with one word per channel in which a
braced word is an expression (``{parent.w_003.r}``) or an animation (``{curve x1001 0.5 0.6 x1010 1}``:
``xN`` sets the frame of the next key, each number is a key, one frame after the previous), as Nuke
writes them: ``value {{parent.w.r} {parent.w.g} {parent.w.b} 1}``, ``disable {{parent.n<=3}}``,
``translate {{curve x1 0 x10 5} 0 0}``. :func:`node_script` writes a node back in this syntax, so a test
can save a gizmo instance the way Nuke saves a script (its class and non-default knob values) and load it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nkparser

KNOB_TYPES = {1: "String", 2: "File", 3: "Int", 4: "Enumeration", 6: "Boolean", 7: "Double", 13: "XYZ",
              18: "Color", 20: "Tab", 22: "PyScript", 26: "Text"}
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "[": "[", "]": "]", "{": "{", "}": "}", "$": "$"}


def unquote(text: str) -> str:
    """A TCL word: "quoted" with backslash escapes, {braced} verbatim, or bare."""
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        out, chars = [], iter(text[1:-1])
        for char in chars:
            out.append(_ESCAPES.get(next(chars, ""), "") if char == "\\" else char)
        return "".join(out)
    if text.startswith("{") and text.endswith("}"):
        return text[1:-1]
    return text


def tcl_words(text: str) -> list:
    """Split a TCL list into its words (quotes and nested braces kept whole, not yet unquoted)."""
    words, index = [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        start = index
        if text[index] == "{":
            depth = 0
            while index < len(text):
                depth += {"{": 1, "}": -1}.get(text[index], 0)
                index += 1
                if depth == 0:
                    break
        elif text[index] == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
            index += 1
        else:
            while index < len(text) and not text[index].isspace():
                index += 1
        words.append(text[start:index])
    return words


@dataclass
class UserKnob:
    """One ``addUserKnob`` definition."""

    type_id: int
    name: str
    label: str | None = None
    tooltip: str | None = None
    items: list = field(default_factory=list)
    script: str | None = None
    flags: list = field(default_factory=list)
    value: str | None = None  # the raw value line that follows, if any

    @classmethod
    def parse(cls, raw: str) -> UserKnob:
        words = tcl_words(unquote(raw.strip()))
        knob = cls(int(words[0]), unquote(words[1]))
        rest = iter(words[2:])
        for word in rest:
            if word in ("l", "t", "T"):
                setattr(knob, {"l": "label", "t": "tooltip", "T": "script"}[word], unquote(next(rest)))
            elif word == "M":
                knob.items = [unquote(item) for item in tcl_words(unquote(next(rest)))]
            elif word == "R":
                next(rest), next(rest)
            elif word[0] in "+-":
                knob.flags.append(word)
            else:
                raise ValueError(f"addUserKnob {knob.name}: unexpected word {word!r}")
        return knob


@dataclass
class GizmoDefinition:
    """A parsed .gizmo: the Gizmo node's own knob lines, its user knobs, the nodes inside."""

    script: nkparser.Script
    header: nkparser.Node
    user_knobs: list
    builtin: dict
    children: list


def read_definition(path: str | Path) -> GizmoDefinition:
    """Parse a .gizmo; raise ValueError on syntax errors or a missing ``end_group``."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.rstrip().splitlines()
    if not lines or lines[-1].strip() != "end_group":
        raise ValueError(f"{path}: a gizmo must end with end_group")
    script = nkparser.Script.from_string("\n".join(lines[:-1]) + "\n")
    if script.errors():
        raise ValueError(f"{path}: {'; '.join(str(e) for e in script.errors())}")
    header, *children = script.nodes
    if header.class_name != "Gizmo":
        raise ValueError(f"{path}: first node is {header.class_name}, not Gizmo")
    user_knobs, builtin = [], {}
    for knob in header.knobs:
        if knob.name == "addUserKnob":
            user_knobs.append(UserKnob.parse(knob.value.raw))
        elif user_knobs and knob.name == user_knobs[-1].name:
            user_knobs[-1].value = knob.value.raw
        else:
            builtin[knob.name] = unquote(knob.value.raw)
    return GizmoDefinition(script, header, user_knobs, builtin, children)


def nuke_inputs(node: nkparser.Node) -> list:
    """A parsed node's inputs in Nuke's order: input 0 is what was on top of the stack."""
    return list(reversed(node.inputs))


@dataclass(frozen=True)
class Expression:
    """One channel driven by a Nuke expression."""

    text: str


@dataclass(frozen=True)
class Curve:
    """One animated channel: (frame, value) keys."""

    keys: tuple


def _channel(word: str):
    if not word.startswith("{"):
        return parse_value(word)
    inner = word[1:-1].strip()
    if inner.startswith("curve"):
        keys, frame = [], 0.0
        for token in inner.split()[1:]:
            if token.startswith("x"):
                frame = float(token[1:])
                continue
            keys.append((frame, float(token)))
            frame += 1.0
        return Curve(tuple(keys))
    return Expression(unquote(inner))


def parse_value(raw: str):
    """A knob value from .nk text: number, true/false, quoted string, or a {list}, one item per channel
    (number, :class:`Expression` or :class:`Curve`)."""
    text = unquote(raw) if raw.startswith('"') else raw
    if raw.startswith("{"):
        return [_channel(word) for word in tcl_words(raw[1:-1])]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def apply_value(knob, value) -> None:
    """Set a parsed value on a knob: plain values with setValue, expressions and curves per channel."""
    if not isinstance(value, list) or not any(isinstance(v, (Expression, Curve)) for v in value):
        knob.setValue(value)
        return
    for index, channel in enumerate(value):
        if isinstance(channel, Expression):
            knob.setExpression(channel.text, index)
        elif isinstance(channel, Curve):
            for frame, key in channel.keys:
                knob.setValueAt(key, frame, index)
        else:
            knob.setValue(channel, index)


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def knob_script(knob) -> str:
    """A knob's value as Nuke writes it into a script (Knob.toScript)."""
    import nuke

    if isinstance(knob, nuke.Array_Knob):
        words = []
        for index in range(len(knob._value)):
            if index in knob._expressions:
                words.append("{" + knob._expressions[index] + "}")
            elif index in knob._curves:
                words.append("{curve " + " ".join(f"x{_number(k.x)} {_number(k.y)}"
                                                   for k in knob._curves[index].keys()) + "}")
            else:
                words.append(_number(knob._value[index]))
        if len(words) == 1 and not words[0].startswith("{"):
            return words[0] if not isinstance(knob, nuke.Boolean_Knob) else ("true" if knob._value[0] else "false")
        return "{" + " ".join(words) + "}"
    text = "" if knob.value() is None else str(knob.value())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("\n", "\\n") + '"'


def node_script(node, defaults: dict) -> str:
    """``Class { name ... knob value ... }`` with the knobs whose script differs from ``defaults``
    (name -> script of a fresh node of the class): what Nuke saves for a gizmo instance."""
    lines = [f"{node.Class()} {{", f" inputs {node.inputs()}", f" name {node.name()}"]
    for name, knob in node.knobs().items():
        if name in ("name", "knobChanged", "onCreate") or not hasattr(knob, "_snapshot"):
            continue
        script = knob_script(knob)
        if script != defaults.get(name):
            lines.append(f" {name} {script}")
    return "\n".join(lines + ["}"]) + "\n"


def make_knob(definition: UserKnob):
    """The fake nuke knob for a user knob definition."""
    import nuke

    kind = KNOB_TYPES[definition.type_id]
    if kind == "Enumeration":
        return nuke.Enumeration_Knob(definition.name, definition.items)
    if kind == "XYZ":
        return nuke.Array_Knob(definition.name, [0.0, 0.0, 0.0])
    if kind == "Color":
        return nuke.Color_Knob(definition.name)
    factory = {"String": nuke.String_Knob, "File": nuke.File_Knob, "Int": nuke.Int_Knob, "Boolean": nuke.Boolean_Knob,
               "Double": nuke.Double_Knob, "Tab": nuke.Knob, "PyScript": nuke.PyScript_Knob, "Text": nuke.Text_Knob}[kind]
    default = {"Int": 0, "Double": 0.0, "Boolean": False}.get(kind, "")
    return factory(definition.name, definition.script if kind in ("PyScript", "Text") else default)


def instantiate(path: str, node_class: str, group):
    """A fake Gizmo node of class ``node_class`` built from the .gizmo at ``path`` inside ``group``:
    its user knobs with their values, its builtin callback knobs, and the nodes inside, wired as the
    file's stack operations say. The caller names it, adds it to ``group`` and runs onCreate."""
    import nuke

    definition = read_definition(path)
    gizmo = nuke.Gizmo(node_class, group, int(definition.builtin.get("inputs", 1)))
    gizmo._loading = True
    for user in definition.user_knobs:
        knob = make_knob(user)
        gizmo.addKnob(knob)
        if user.value is not None:
            apply_value(knob, parse_value(user.value))
    for name in ("onCreate", "knobChanged"):
        gizmo[name].setValue(definition.builtin.get(name, ""))
    created = {}
    with gizmo:
        for child in definition.children:
            values = {k.name: parse_value(k.value.raw) for k in child.knobs if k.name not in ("inputs", "xpos", "ypos")}
            node = getattr(nuke.nodes, child.class_name)(name=values.pop("name", None))
            node._loading = True
            for name, value in values.items():
                apply_value(node[name], value)
            node._loading = False
            created[id(child)] = node
            for index, source in enumerate(nuke_inputs(child)):
                if source is not None:
                    node.setInput(index, created[id(source)])
    gizmo._loading = False
    return gizmo


def load_node(text: str, group):
    """Create the node a ``node_script`` text describes inside ``group``, as Nuke does when it loads a
    script: the node (a gizmo: built from its .gizmo) with the saved knob values, then its onCreate."""
    import nuke

    parsed = nkparser.Script.from_string(text).nodes[0]
    values = {k.name: parse_value(k.value.raw) for k in parsed.knobs if k.name not in ("inputs", "name")}
    name = next(unquote(k.value.raw) for k in parsed.knobs if k.name == "name")
    return nuke._create(parsed.class_name, {"name": name, **values})
