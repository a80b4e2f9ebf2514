"""A small stand-in for Foundry's ``nuke`` Python module, for testing plugin_nuke without Nuke.

It implements only the calls the adapter (and its tests) use, each behaving as Foundry's Python
API reference documents it; the page is cited in each docstring. Base URL of the Nuke 15.1
reference: https://learn.foundry.com/nuke/developers/151/pythondevguide/ (``_autosummary/`` pages
per function and class). Nodes know only the knobs of the classes listed in ``CLASSES``; setting
an unknown knob raises, like Nuke's node constructors do for a misspelt knob.

Not simulated: pixels (tests evaluate the node graph with ``fake_nuke.interpreter``), expressions and
TCL beyond the subset the gizmos use (:func:`evaluate_expression`, :func:`expand_tcl`), and the GUI. The main thread's event loop is
a queue that tests drain with ``fake_nuke.run_main_thread()``.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import types

API = "https://learn.foundry.com/nuke/developers/151/pythondevguide/_autosummary/"

REPLACE = 1  # nuke.REPLACE, for nuke.filename: "replace %04d style sequences with the current frame"
env = {"gui": False}  # nuke.env: "Getting Information on the NUKE Environment You Are Running" (getting_started.html)

_state: dict = {}
_main_queue: list = []
_lock = threading.Lock()


# --- knobs ------------------------------------------------------------------------------------


class Knob:
    """nuke.Knob (API + nuke.Knob.html): name(), value(), getValue(), setValue(), evaluate().

    setValue does NOT trigger knobChanged: Nuke 13 to 16 document nuke.addKnobChanged as "code to
    execute when the user changes a knob ... also called with dummy knobs when the control panel is
    opened or when the inputs to the node changes. The purpose is to update other knobs in the
    control panel. Use addUpdateUI() for changes that should happen even when the panel is closed"
    (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.addKnobChanged.html;
    the same text up to 16.0). Only Nuke 17.1 fires it for programmatic changes. A user's edit is
    :func:`user_changes`, which needs the node's panel open (:meth:`Node.showControlPanel`).
    """

    def __init__(self, name: str, value=None) -> None:
        self._name = name
        self._value = value
        self._node = None

    def name(self) -> str:
        return self._name

    def value(self):
        return self._value

    def getValue(self):  # noqa: N802 (Nuke's names)
        return self._value

    def setValue(self, value, index: int = -1) -> bool:  # noqa: N802
        _record_undo(self)
        self._value = value
        return True

    def evaluate(self) -> str:
        """EvalString_Knob.evaluate: the string with its TCL commands expanded (see :func:`expand_tcl`)."""
        return "" if self._value is None else expand_tcl(str(self._value), self._node)

    def isAnimated(self, index: int = -1) -> bool:  # noqa: N802
        """Knob.isAnimated: a plain (string, enumeration) knob here never is."""
        return False

    def hasExpression(self, index: int = -1) -> bool:  # noqa: N802
        return False

    def _snapshot(self):
        return self._value

    def _restore(self, snapshot) -> None:
        self._value = snapshot



class String_Knob(Knob):
    """nuke.String_Knob (API + nuke.String_Knob.html)."""


class Text_Knob(Knob):
    """nuke.Text_Knob (API + nuke.Text_Knob.html): setValue sets the text shown in the panel."""


class File_Knob(Knob):
    """nuke.File_Knob (API + nuke.File_Knob.html): fromUserText(s) "assigns string to knob, parses
    frame range off the end and opens file to get set the format" (first/last knobs of a Read)."""

    def fromUserText(self, text: str) -> None:  # noqa: N802
        match = re.fullmatch(r"(.*?)\s+(-?\d+)-(-?\d+)", text.strip())
        path = match.group(1) if match else text.strip()
        self.setValue(path)
        if match and self._node is not None:
            first, last = int(match.group(2)), int(match.group(3))
            for name, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
                self._node[name].setValue(value)


class Enumeration_Knob(Knob):
    """nuke.Enumeration_Knob (API + nuke.Enumeration_Knob.html): value() is the current item's
    name; setValue takes an item name or an index."""

    def __init__(self, name: str, items: list, value=None) -> None:
        super().__init__(name, items[0] if value is None else value)
        self.items = list(items)

    def setValue(self, value, index: int = -1) -> bool:  # noqa: N802
        item = self.items[int(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        if item not in self.items:
            raise ValueError(f"{self._name}: {item!r} is not one of {self.items}")
        return super().setValue(item)


class AnimationKey:
    """nuke.AnimationKey (API + nuke.AnimationKey.html): a control point, ``x`` (frame) and ``y`` (value)."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = float(x), float(y)


class AnimationCurve:
    """nuke.AnimationCurve (API + nuke.AnimationCurve.html): addKey(keys) inserts a sequence of
    AnimationKeys (one at a frame that has a key replaces it), setKey(t, y), keys(), clear(),
    evaluate(t). Interpolation here is linear between keys and constant outside them; Nuke's default
    is smooth, which passes through the same values at the keys (the plug-in keys whole frames)."""

    def __init__(self) -> None:
        self._keys: dict = {}

    def addKey(self, keys) -> None:  # noqa: N802
        for key in keys:
            self._keys[key.x] = key.y

    def setKey(self, t: float, y: float) -> AnimationKey:  # noqa: N802
        self._keys[float(t)] = float(y)
        return AnimationKey(t, y)

    def keys(self) -> list:
        return [AnimationKey(x, self._keys[x]) for x in sorted(self._keys)]

    def size(self) -> int:
        return len(self._keys)

    def clear(self) -> None:
        self._keys.clear()

    def evaluate(self, t: float) -> float:
        xs = sorted(self._keys)
        if not xs:
            return 0.0
        if t <= xs[0]:
            return self._keys[xs[0]]
        if t >= xs[-1]:
            return self._keys[xs[-1]]
        right = next(i for i, x in enumerate(xs) if x >= t)
        x0, x1 = xs[right - 1], xs[right]
        f = (t - x0) / (x1 - x0)
        return self._keys[x0] * (1.0 - f) + self._keys[x1] * f


class Array_Knob(Knob):
    """nuke.Array_Knob (API + nuke.Array_Knob.html): getValue() returns the value, or a list when the
    knob holds several; value(index); setValue(value, index=-1) sets one item, or all when index is -1
    (a list sets each); setSingleValue(False) splits a single-valued knob. Animation: setAnimated(index)
    makes a channel animated, animation(index) is its AnimationCurve, setValueAt(value, time, index)
    keys it, getValueAt(time, index) / valueAt(time, index) read it at a frame (value()/getValue() at
    nuke.frame()), isAnimated(index), clearAnimated(index). setExpression(expression, channel) drives a
    channel by a Nuke expression (see :func:`evaluate_expression`); hasExpression(index). Int_Knob,
    Double_Knob, Boolean_Knob and Color_Knob are Array_Knobs, as in Nuke."""

    cast = float

    def __init__(self, name: str, values: list, colour: bool = False) -> None:
        super().__init__(name, [float(v) for v in values])
        self.single = colour and len(set(values)) == 1  # colour knobs show one slider until split
        self._curves: dict = {}
        self._expressions: dict = {}

    def _at(self, index: int, time: float | None):
        time = _state["frame"] if time is None else time
        if index in self._expressions:
            return self.cast(evaluate_expression(self._expressions[index], self._node, time))
        if index in self._curves:
            return self.cast(self._curves[index].evaluate(time))
        return self.cast(self._value[index])

    def _all_at(self, time: float | None):
        values = [self._at(i, time) for i in range(len(self._value))]
        if len(values) == 1 or (self.single and not self._curves and not self._expressions):
            return values[0]
        return values

    def value(self, index: int | None = None):
        return self._all_at(None) if index is None else self._at(index, None)

    def getValue(self):  # noqa: N802
        return self._all_at(None)

    def getValueAt(self, time: float, index: int = -1):  # noqa: N802
        return self._all_at(time) if index < 0 else self._at(index, time)

    def valueAt(self, time: float, index: int = 0):  # noqa: N802
        return self._at(index, time)

    def setSingleValue(self, single: bool) -> None:  # noqa: N802
        self.single = bool(single) and len(set(self._value)) == 1

    def setValue(self, value, index: int = -1) -> bool:  # noqa: N802
        indices = range(len(self._value)) if index < 0 else [index]
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                self._set_channel(i, v)
            self.single = False
        else:
            for i in indices:
                self._set_channel(i, value)
            self.single = (self.single or index < 0) and len(set(self._value)) == 1
        return True

    def _set_channel(self, index: int, value) -> None:
        """setValue on an animated channel sets a key at the current frame, as in Nuke."""
        _record_undo(self)
        if index in self._curves:
            self._curves[index].setKey(_state["frame"], float(value))
        else:
            self._value[index] = float(self.cast(value))

    def setAnimated(self, index: int = -1) -> bool:  # noqa: N802
        _record_undo(self)
        for i in range(len(self._value)) if index < 0 else [index]:
            if i not in self._curves:
                self._curves[i] = AnimationCurve()
                self._curves[i].setKey(_state["frame"], self._value[i])
        return True

    def isAnimated(self, index: int = -1) -> bool:  # noqa: N802
        return bool(self._curves) if index < 0 else index in self._curves

    def clearAnimated(self, index: int = -1) -> bool:  # noqa: N802
        _record_undo(self)
        for i in list(self._curves) if index < 0 else [index]:
            curve = self._curves.pop(i, None)
            if curve is not None:
                self._value[i] = curve.evaluate(_state["frame"])
        return True

    def animation(self, index: int):
        return self._curves.get(index)

    def animations(self) -> list:
        return [self._curves[i] for i in sorted(self._curves)]

    def setValueAt(self, value: float, time: float, index: int = -1) -> bool:  # noqa: N802
        _record_undo(self)
        for i in range(len(self._value)) if index < 0 else [index]:
            self._curves.setdefault(i, AnimationCurve()).setKey(time, float(value))
        return True

    def setExpression(self, expression: str, channel: int = -1) -> bool:  # noqa: N802
        _record_undo(self)
        for i in range(len(self._value)) if channel < 0 else [channel]:
            self._expressions[i] = expression
        return True

    def hasExpression(self, index: int = -1) -> bool:  # noqa: N802
        return bool(self._expressions) if index < 0 else index in self._expressions

    def _snapshot(self):
        return (list(self._value), self.single, {i: dict(c._keys) for i, c in self._curves.items()},
                dict(self._expressions))

    def _restore(self, snapshot) -> None:
        values, self.single, curves, self._expressions = snapshot
        self._value = values
        self._curves = {}
        for i, keys in curves.items():
            self._curves[i] = AnimationCurve()
            self._curves[i]._keys = keys


class Int_Knob(Array_Knob):
    """nuke.Int_Knob (API + nuke.Int_Knob.html): an Array_Knob of one int."""

    cast = int

    def __init__(self, name: str, value=0) -> None:
        super().__init__(name, [int(value)])


class Double_Knob(Array_Knob):
    """nuke.Double_Knob (API + nuke.Double_Knob.html): an Array_Knob of one float."""

    def __init__(self, name: str, value=0.0) -> None:
        super().__init__(name, [float(value)])


class Boolean_Knob(Array_Knob):
    """nuke.Boolean_Knob (API + nuke.Boolean_Knob.html): an Array_Knob; value() is True or False (an
    expression's result: non-zero is True)."""

    cast = bool

    def __init__(self, name: str, value=False) -> None:
        super().__init__(name, [1.0 if value else 0.0])

    def _set_channel(self, index: int, value) -> None:
        super()._set_channel(index, 1.0 if value else 0.0)


class Color_Knob(Array_Knob):
    """nuke.Color_Knob (API + nuke.Color_Knob.html): three channels r, g, b."""

    def __init__(self, name: str, values=(0.0, 0.0, 0.0)) -> None:
        super().__init__(name, list(values), colour=True)


class PyScript_Knob(Knob):
    """nuke.PyScript_Knob (API + nuke.PyScript_Knob.html): a button; execute() runs its script with
    nuke.thisNode() / nuke.thisKnob() set to its node and itself."""

    def execute(self) -> None:
        if self._value:
            _run_code(self._value, self._node, self)


class Button_Knob(Knob):
    """A Read's "reload" button (nuke.Script_Knob-like): execute() re-reads the file; no-op here."""

    def execute(self) -> None:
        self._node._reloads = getattr(self._node, "_reloads", 0) + 1


# --- expressions, TCL, undo ----------------------------------------------------------------------

_CHANNELS = {"r": 0, "g": 1, "b": 2, "a": 3, "x": 0, "y": 1, "z": 2, "w": 3}
_REFERENCE = re.compile(r"\b(parent|this)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*|\d+))?")


def _reference(node, scope: str, knob_name: str, channel: str | None, time: float) -> float:
    owner = node._group if scope == "parent" else node
    knob = owner.knob(knob_name) if owner is not None else None
    if knob is None:
        raise NameError(f"{node.fullName()}: expression refers to unknown knob {scope}.{knob_name}")
    index = 0 if channel is None else (int(channel) if channel.isdigit() else _CHANNELS[channel])
    return float(knob.valueAt(time, index))


def evaluate_expression(expression: str, node, time: float) -> float:
    """A Nuke expression (Foundry, "Expressions" in the Nuke user guide: knob references
    ``parent.knob`` / ``parent.knob.r`` / ``this.knob``, numbers, + - * / ( ), comparisons and
    ``&& || !`` giving 1 or 0), the subset the gizmos use, evaluated at ``time``."""
    text = _REFERENCE.sub(lambda m: repr(_reference(node, m.group(1), m.group(2), m.group(3), time)), expression)
    text = re.sub(r"!(?!=)", " not ", text.replace("&&", " and ").replace("||", " or "))
    if not re.fullmatch(r"(?:[\d.eE+\-*/()<>=!\s]|and|or|not)*", text):
        raise NameError(f"{node.fullName()}: expression {expression!r} is outside the fake's subset")
    return float(eval(text, {"__builtins__": {}}, {}))  # noqa: S307 (digits and operators only, checked above)


_TCL_VALUE = re.compile(r"\[value\s+(parent|this)\.([A-Za-z_]\w*)\]")


def expand_tcl(text: str, node) -> str:
    """TCL in a string knob (Nuke's ``[value parent.knob]`` command, the one the gizmos use); any other
    bracketed command raises, so a gizmo relying on more fails its tests."""
    def value(match: re.Match) -> str:
        owner = node._group if match.group(1) == "parent" else node
        knob = owner.knob(match.group(2)) if owner is not None else None
        if knob is None:
            raise NameError(f"{node.fullName()}: [value {match.group(1)}.{match.group(2)}]: no such knob")
        return knob.evaluate() if isinstance(knob, String_Knob) else str(knob.value())

    expanded = _TCL_VALUE.sub(value, text)
    if "[" in expanded:
        raise NotImplementedError(f"TCL outside the fake's subset: {text!r}")
    return expanded


class Undo:
    """nuke.Undo (API + nuke.Undo.html): begin(name) starts "a new user-visible group of undo actions",
    end() "completes the current undo set and adds it to the undo list", undo() "undoes the 0'th undo",
    undoSize(), undoDescribe(n). Knob changes made while no group is open are recorded one per change,
    as Nuke records each user edit."""

    def begin(self, name: str | None = None) -> None:
        _state["undo_open"].append([name or "", {}])

    def end(self) -> None:
        name, changes = _state["undo_open"].pop()
        if changes:
            _state["undo"].insert(0, (name, changes))

    def undo(self) -> None:
        name, changes = _state["undo"].pop(0)
        for knob, snapshot in changes.values():
            knob._restore(snapshot)

    def undoSize(self) -> int:  # noqa: N802
        return len(_state["undo"])

    def undoDescribe(self, n: int = 0) -> str:  # noqa: N802
        return _state["undo"][n][0]


def _record_undo(knob) -> None:
    """Remember ``knob``'s state before its first change in the open undo group (or as its own step)."""
    if knob._node is None or knob._node._loading:
        return
    if _state["undo_open"]:
        _state["undo_open"][-1][1].setdefault(id(knob), (knob, knob._snapshot()))
    else:
        _state["undo"].insert(0, (knob.name(), {id(knob): (knob, knob._snapshot())}))


def frame(f: int | None = None) -> int:
    """nuke.frame (API + nuke.frame.html): the current frame; frame(f) moves to frame f."""
    if f is not None:
        _state["frame"] = int(f)
    return _state["frame"]


# --- node classes -----------------------------------------------------------------------------

IDENTITY = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]
FALLOFFS = ["No Falloff", "Linear", "Quadratic", "Cubic"]
MERGE_OPERATIONS = ["atop", "average", "color-burn", "copy", "difference", "divide", "from", "in", "max", "min",
                    "minus", "multiply", "out", "over", "plus", "screen", "under"]


def _light_knobs(extra: dict) -> dict:
    knobs = {"color": lambda: Array_Knob("color", [1, 1, 1], colour=True), "intensity": lambda: Double_Knob("intensity", 1.0),
             "world_matrix": lambda: Array_Knob("world_matrix", IDENTITY)}
    knobs.update(extra)
    return knobs


_SPOT = {"cone_angle": lambda: Double_Knob("cone_angle", 40.0),
         "cone_penumbra_angle": lambda: Double_Knob("cone_penumbra_angle", 0.0),
         "cone_falloff": lambda: Double_Knob("cone_falloff", 0.0),
         "falloff_type": lambda: Enumeration_Knob("falloff_type", FALLOFFS)}

# class -> (maximum inputs, knob factories). Knob names from Foundry's node reference pages
# (https://learn.foundry.com/nuke/content/reference_guide/...: Read, Multiply, Merge, Copy, Switch, OCIOColorSpace,
# 3d_nodes/light.html, direct, spot.html, environment.html).
CLASSES: dict = {
    "Read": (0, {"file": lambda: File_Knob("file", ""), "first": lambda: Int_Knob("first", 1),
                 "last": lambda: Int_Knob("last", 1), "origfirst": lambda: Int_Knob("origfirst", 1),
                 "origlast": lambda: Int_Knob("origlast", 1), "raw": lambda: Boolean_Knob("raw", False),
                 "reload": lambda: Button_Knob("reload"),
                 # "missing frames": error (the default) fails the render with an error in the Viewer; see interpreter
                 "on_error": lambda: Enumeration_Knob("on_error", ["error", "black", "checkerboard", "nearest frame"])}),
    "Multiply": (2, {"channels": lambda: String_Knob("channels", "rgba"),
                     "value": lambda: Array_Knob("value", [1, 1, 1, 1], colour=True)}),
    "Merge2": (99, {"operation": lambda: Enumeration_Knob("operation", MERGE_OPERATIONS, "over"),
                    "output": lambda: String_Knob("output", "rgba")}),
    "Copy": (3, {"from0": lambda: String_Knob("from0", "rgba.alpha"), "to0": lambda: String_Knob("to0", "rgba.alpha")}),
    "Switch": (99, {"which": lambda: Int_Knob("which", 0)}),
    # color_nodes/ociocolorspace.html: knobs in_colorspace, out_colorspace (default linear), channels (rgb)
    "OCIOColorSpace": (1, {"in_colorspace": lambda: String_Knob("in_colorspace", "linear"),
                           "out_colorspace": lambda: String_Knob("out_colorspace", "linear"),
                           "channels": lambda: String_Knob("channels", "rgb")}),
    "Dot": (1, {}),
    "Input": (0, {"number": lambda: Int_Knob("number", 0)}),
    "Output": (1, {}),
    "Scene": (99, {}),
    "Axis2": (2, {"world_matrix": lambda: Array_Knob("world_matrix", IDENTITY)}),
    "Light2": (2, _light_knobs({**_SPOT, "light_type": lambda: Enumeration_Knob("light_type", ["point", "directional", "spot"])})),
    "DirectLight": (2, _light_knobs({})),
    "Spotlight": (2, _light_knobs(_SPOT)),
    "Environment": (2, _light_knobs({})),
}


class Node:
    """nuke.Node (API + nuke.Node.html): Class(), name(), fullName(), knob(), __getitem__, knobs(),
    input(i), inputs() ("the maximum number of connected inputs"), setInput(i, node),
    setXYpos(x, y), channels(), error() ("True if the node or any in its input tree have an error": here, when
    the fake interpreter's render of it at the current frame fails)."""

    def __init__(self, node_class: str, group, max_inputs: int) -> None:
        self._class = node_class
        self._group = group
        self._max_inputs = max_inputs
        self._inputs: list = []
        self._knobs: dict = {}
        self._loading = False
        self._panel_open = False
        for name, factory in (("name", lambda: String_Knob("name", "")), ("disable", lambda: Boolean_Knob("disable", False)),
                              ("knobChanged", lambda: String_Knob("knobChanged", "")),
                              ("onCreate", lambda: String_Knob("onCreate", "")),
                              ("xpos", lambda: Int_Knob("xpos", 0)), ("ypos", lambda: Int_Knob("ypos", 0))):
            self.addKnob(factory())

    def addKnob(self, knob: Knob) -> None:  # noqa: N802
        """Node.addKnob: add knob k to this node."""
        knob._node = self
        self._knobs[knob.name()] = knob

    def error(self) -> bool:
        from fake_nuke.interpreter import RenderError, evaluate

        try:
            evaluate(self, int(frame()))
        except RenderError:
            return True
        return False

    def Class(self) -> str:  # noqa: N802
        return self._class

    def name(self) -> str:
        return self._knobs["name"].value()

    def fullName(self) -> str:  # noqa: N802
        """Node.fullName: the name with the names of the enclosing groups (root omitted)."""
        parent = self._group
        return self.name() if parent is None or parent is _state["root"] else f"{parent.fullName()}.{self.name()}"

    def knob(self, name: str):
        return self._knobs.get(name)

    def knobs(self) -> dict:
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"{self.name()}: no knob {name!r}")
        return self._knobs[name]

    def input(self, index: int):
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self) -> int:
        connected = [i for i, node in enumerate(self._inputs) if node is not None]
        return connected[-1] + 1 if connected else 0

    def setInput(self, index: int, node) -> bool:  # noqa: N802
        if index >= self._max_inputs:
            return False
        self._inputs.extend([None] * (index + 1 - len(self._inputs)))
        self._inputs[index] = node
        self._knob_changed(Knob("inputChange"))  # "called with dummy knobs ... when the inputs change"
        return True

    def showControlPanel(self, forceFloat: bool = False) -> None:  # noqa: N802,N803
        """Node.showControlPanel: open the node's panel; knobChanged runs with the dummy knob "showPanel"."""
        self._panel_open = True
        self._knob_changed(Knob("showPanel"))

    def hideControlPanel(self) -> None:  # noqa: N802
        """Node.hideControlPanel: close the node's panel."""
        self._panel_open = False

    def shown(self) -> bool:
        """Node.shown: whether the node's control panel is open."""
        return self._panel_open

    def setXYpos(self, x: int, y: int) -> None:  # noqa: N802
        self._knobs["xpos"]._value, self._knobs["ypos"]._value = [float(x)], [float(y)]

    def channels(self) -> list:
        """Node.channels: channels output by this node (a Read: those in its file's first frame)."""
        from fake_nuke.interpreter import file_channels

        return file_channels(self) if self._class == "Read" else ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"]

    def _knob_changed(self, knob: Knob) -> None:
        if self._loading:
            return
        code = self._knobs["knobChanged"].value()
        if code:
            _run_code(code, self, knob)
        for call, args, kwargs, node_class in list(_state["knob_changed"]):
            if node_class in ("*", self._class):
                _with_context(self, knob, call, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<fake {self._class} {self.fullName()}>"


class Group(Node):
    """nuke.Group (API + nuke.Group.html): nodes(), begin()/end() and ``with group:`` make it the
    context in which nodes are created and nuke.toNode looks names up."""

    def __init__(self, node_class: str, group, max_inputs: int) -> None:
        super().__init__(node_class, group, max_inputs)
        self._children: list = []

    def nodes(self) -> list:
        return list(self._children)

    def begin(self):
        _state["context"].append(self)
        return self

    def end(self) -> None:
        _state["context"].pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc) -> None:
        self.end()


class Gizmo(Group):
    """nuke.Gizmo (API + nuke.Gizmo.html): a Group loaded from a .gizmo file on the plugin path;
    its Class() is the file's name."""


class Root(Group):
    """nuke.Root (API + nuke.Root.html): the script; its "name" knob is the script's path."""

    def __init__(self) -> None:
        super().__init__("Root", None, 0)
        self.addKnob(File_Knob("name", ""))


# --- module functions ----------------------------------------------------------------------------


def _reset() -> None:
    """Fresh script and callbacks (fake_nuke.reset() calls this between tests)."""
    _state.clear()
    _state.update(root=Root(), knob_changed=[], filename_filters=[], plugin_path=[], menus={}, messages=[], progress=[], cancel=False,
                  this=[], frame=1001, terminal=[], undo=[], undo_open=[])
    _state["context"] = [_state["root"]]
    _main_queue.clear()
    env["gui"] = False


def _run_code(code: str, node, knob) -> None:
    namespace = {"nuke": sys.modules[__name__]}
    _with_context(node, knob, exec, code, namespace)


def _with_context(node, knob, call, *args, **kwargs):
    _state["this"].append((node, knob))
    if len(_state["this"]) > 20:
        raise RecursionError("knobChanged callbacks nested more than 20 deep")
    try:
        return call(*args, **kwargs)
    finally:
        _state["this"].pop()


def root() -> Root:
    """nuke.root (API + nuke.root.html): the Root node."""
    return _state["root"]


def thisNode():  # noqa: N802
    """nuke.thisNode (API + nuke.thisNode.html): the node whose callback or button is running."""
    return _state["this"][-1][0] if _state["this"] else None


def thisKnob():  # noqa: N802
    """nuke.thisKnob (API + nuke.thisKnob.html): the knob of the running knobChanged/button."""
    return _state["this"][-1][1] if _state["this"] else None


def _context() -> Group:
    return _state["context"][-1]


def _unique_name(group: Group, base: str) -> str:
    taken = {n.name() for n in group.nodes()}
    index = 1
    while f"{base}{index}" in taken:
        index += 1
    return f"{base}{index}"


def _gizmo_file(node_class: str) -> str | None:
    for folder in _state["plugin_path"]:
        path = os.path.join(folder, f"{node_class}.gizmo")
        if os.path.isfile(path):
            return path
    return None


def _create(node_class: str, knobs: dict):
    group = _context()
    gizmo_path = _gizmo_file(node_class) if node_class not in CLASSES else None
    if gizmo_path is not None:
        from fake_nuke.gizmo_file import instantiate

        node = instantiate(gizmo_path, node_class, group)
    elif node_class in CLASSES:
        max_inputs, factories = CLASSES[node_class]
        node = Node(node_class, group, max_inputs)
        for factory in factories.values():
            node.addKnob(factory())
    else:
        raise RuntimeError(f"{node_class}: unknown command")  # what Nuke says for an unknown class
    node._knobs["name"]._value = knobs.pop("name", None) or _unique_name(group, node_class)
    from fake_nuke.gizmo_file import apply_value

    node._loading = True
    for name, value in knobs.items():
        apply_value(node[name], value)
    node._loading = False
    group._children.append(node)
    if node["onCreate"].value():
        _run_code(node["onCreate"].value(), node, node["onCreate"])
    return node


class _NodeConstructors:
    """nuke.nodes (API + nuke.nodes.html): ``nuke.nodes.Blur(size=4)`` creates a node of that class
    in the current group, knobs set from the keyword arguments, without connecting it to the selection."""

    def __getattr__(self, node_class: str):
        return lambda **knobs: _create(node_class, dict(knobs))


nodes = _NodeConstructors()


def createNode(node: str, args: str = "", inpanel: bool = True):  # noqa: N802
    """nuke.createNode (API + nuke.createNode.html): create a node (or gizmo) by class name."""
    return _create(node, {})


def toNode(name: str):  # noqa: N802
    """nuke.toNode (API + nuke.toNode.html): the node with this (dotted) name in the current group, or None."""
    group = _state["root"] if name.startswith("root.") else _context()
    parts = name[5:].split(".") if name.startswith("root.") else name.split(".")
    node = group
    for part in parts:
        node = next((n for n in getattr(node, "_children", []) if n.name() == part), None)
        if node is None:
            return None
    return node


def allNodes(filter: str | None = None, group=None, recurseGroups: bool = False) -> list:  # noqa: A002, N802, N803
    """nuke.allNodes (API + nuke.allNodes.html): nodes of the group (default the current one),
    optionally only of class ``filter``, optionally descending into groups."""
    found = []
    for node in (group or _context()).nodes():
        if filter is None or node.Class() == filter:
            found.append(node)
        if recurseGroups and isinstance(node, Group):
            found.extend(allNodes(filter, node, True))
    return found


def delete(node) -> None:
    """nuke.delete (API + nuke.delete.html): delete the node; inputs that used it are disconnected."""
    group = node._group
    group._children.remove(node)
    for other in group._children:
        other._inputs = [None if n is node else n for n in other._inputs]


def selectedNode():  # noqa: N802
    """nuke.selectedNode (API + nuke.selectedNode.html): raises ValueError when nothing is selected."""
    if _state.get("selected") is None:
        raise ValueError("no node selected")
    return _state["selected"]


def filename(node, i: int | None = None) -> str | None:
    """nuke.filename (https://learn.foundry.com/nuke/developers/131/pythondevguide/_autosummary/nuke.filename.html):
    the node's file, expanded; with REPLACE, %04d / #### replaced by the current frame."""
    knob = node.knob("file")
    if knob is None or not knob.evaluate():
        return None
    path = knob.evaluate()
    if i == REPLACE:
        path = re.sub(r"#+", lambda m: str(_state["frame"]).zfill(len(m.group())), path)
        path = re.sub(r"%0?(\d*)d", lambda m: str(_state["frame"]).zfill(int(m.group(1) or 0)), path)
    return path


def pluginAddPath(args, addToSysPath: bool = True) -> None:  # noqa: N802, N803
    """nuke.pluginAddPath (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.pluginAddPath.html):
    put the path(s) first on the plugin path (moved if present), and on sys.path if addToSysPath."""
    for path in [args] if isinstance(args, str) else list(args):
        if path in _state["plugin_path"]:
            _state["plugin_path"].remove(path)
        _state["plugin_path"].insert(0, path)
        if addToSysPath and path not in sys.path:
            sys.path.insert(0, path)


def pluginPath() -> list:  # noqa: N802
    """nuke.pluginPath (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.pluginPath.html)."""
    return list(_state["plugin_path"])


class Menu:
    """nuke.Menu (API + nuke.Menu.html): addMenu(name, icon=...) returns the (new or existing)
    submenu; addCommand(name, command, shortcut, icon, ...) adds an item; findItem(name)."""

    def __init__(self, name: str, icon: str | None = None) -> None:
        self.name, self.icon, self.items = name, icon, []

    def findItem(self, name: str):  # noqa: N802
        return next((item for item in self.items if item.name == name), None)

    def addMenu(self, name: str, icon: str | None = None, **_options) -> Menu:  # noqa: N802
        menu = self.findItem(name)
        if menu is None:
            menu = Menu(name, icon)
            self.items.append(menu)
        return menu

    def addCommand(self, name: str, command=None, shortcut=None, icon=None, **_options) -> MenuItem:  # noqa: N802
        item = MenuItem(name, command, icon)
        self.items.append(item)
        return item


class MenuItem:
    """nuke.MenuItem (API + nuke.MenuItem.html): script() is the item's command."""

    def __init__(self, name: str, command, icon) -> None:
        self.name, self.command, self.icon = name, command, icon

    def script(self):
        return self.command


def menu(name: str) -> Menu:
    """nuke.menu (API + nuke.menu.html): "Nuke" (menu bar), "Nodes" (toolbar), ..."""
    return _state["menus"].setdefault(name, Menu(name))


def addKnobChanged(call, args=(), kwargs=None, nodeClass: str = "*", node=None) -> None:  # noqa: N802, N803
    """nuke.addKnobChanged (https://learn.foundry.com/nuke/developers/132/pythondevguide/_autosummary/nuke.addKnobChanged.html):
    run ``call`` when a knob of a node of ``nodeClass`` changes; nuke.thisNode()/thisKnob() are set."""
    entry = (call, tuple(args) if isinstance(args, tuple) else (args,), dict(kwargs or {}), nodeClass)
    if entry not in _state["knob_changed"]:
        _state["knob_changed"].append(entry)


def addFilenameFilter(call, args=(), kwargs=None, nodeClass: str = "*") -> None:  # noqa: N802, N803
    """nuke.addFilenameFilter (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.addFilenameFilter.html):
    "Add a function to modify filenames before Nuke passes them to the operating system. The first argument
    to the function is the filename, and it should return the new filename. None is the same as returning
    the string unchanged. All added functions are called in backwards order." Nuke runs them on every file
    knob it opens (the interpreter's Read does); Python code runs them with ``nuke.callbacks.filenameFilter``."""
    _state["filename_filters"].append((call, tuple(args) if isinstance(args, tuple) else (args,), dict(kwargs or {})))


def _filename_filter(filename: str) -> str:
    """nuke.callbacks.filenameFilter(filename): the added filters applied, the last added first (as the
    Python Developer's Guide's createWriteDir example uses it before os.makedirs)."""
    for call, args, kwargs in reversed(_state["filename_filters"]):
        result = call(filename, *args, **kwargs)
        filename = filename if result is None else result
    return filename


callbacks = types.SimpleNamespace(filenameFilter=_filename_filter)


def executeInMainThread(call, args=(), kwargs=None) -> None:  # noqa: N802
    """nuke.executeInMainThread (https://learn.foundry.com/nuke/developers/140/pythondevguide/_modules/nuke_internal/executeInMain.html):
    queue ``call(*args, **kwargs)`` for Nuke's main thread and return immediately."""
    with _lock:
        _main_queue.append((call, args if isinstance(args, tuple) else (args,), dict(kwargs or {})))


class ProgressTask:
    """nuke.ProgressTask (https://learn.foundry.com/nuke/developers/131/pythondevguide/_autosummary/nuke.ProgressTask.html):
    setMessage(s), setProgress(i) (an integer percentage), isCancelled()."""

    def __init__(self, name: str) -> None:
        self.name = name
        _state["progress"].append(self)
        self.messages, self.values = [], []

    def setMessage(self, message: str) -> None:  # noqa: N802
        self.messages.append(message)

    def setProgress(self, value: int) -> None:  # noqa: N802
        self.values.append(int(value))

    def isCancelled(self) -> bool:  # noqa: N802
        return bool(_state["cancel"])


def tprint(*values, sep: str = " ", end: str = "\n") -> None:
    """nuke.tprint (https://learn.foundry.com/nuke/developers/140/pythondevguide/_autosummary/nuke.tprint.html):
    print to the terminal Nuke was started from (recorded here too)."""
    _state["terminal"].append(sep.join(str(v) for v in values) + end)
    print(*values, sep=sep, end=end)


def message(text: str) -> None:
    """nuke.message (API + nuke.message.html): a modal message box in the GUI (recorded here)."""
    _state["messages"].append(text)


_reset()


def user_changes(knob: Knob, value, index: int = -1) -> None:
    """Test helper (not Nuke API): the artist edits ``knob`` in its node's open panel, so Nuke sets it
    and then runs knobChanged (13-16: only user changes do, see :class:`Knob`)."""
    node = knob._node
    if node is None or not node._panel_open:
        raise AssertionError(f"{knob.name()}: an artist edits knobs in the node's open panel (showControlPanel first)")
    knob.setValue(value, index)
    node._knob_changed(knob)
