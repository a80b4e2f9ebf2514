"""A tiny evaluator of the fake node graph: what Nuke would compute, for the classes the
Relume_Relight gizmo's live graph uses.

Images are (H, W, 4) float32 RGBA, computed in float32 like Nuke. Semantics (Foundry's node
reference, https://learn.foundry.com/nuke/content/reference_guide/):
* Read: the file at the frame (#### / %04d expanded, then ``nuke.callbacks.filenameFilter``), raw (no colour conversion), frames outside
  ``first``..``last`` held at the nearest (the Read's default "hold"); a channel the file lacks is 0. A file that
  cannot be opened raises :class:`RenderError` naming it, as a Read whose "missing frames" control is "error"
  (the default) fails the render and shows the error in the Viewer (Foundry, "Loading Image Sequences" and
  "Using the Precomp Node": missing frames "error" displays an error message); the other choices are not
  interpreted.
* Multiply: channels "rgb" or "rgba" multiplied by ``value`` (r, g, b, a); others pass through.
* Merge2 with operation plus: input 0 is B, input 1 is A; the ``output`` channels get A + B, the
  other channels are B's.
* Copy: B (input 0) with channel ``to0`` replaced by A's (input 1) channel ``from0``.
* OCIOColorSpace: ``in_colorspace`` -> ``out_colorspace`` on rgb, through the fake OCIO config below
  (linear spaces only: scene-linear Rec.709 under its names and roles, and ACEScg); an unknown name
  raises, as a real config's missing colour space errors.
* Switch: input ``which``; Dot and Output: their input; Input: the enclosing group's input
  number ``number``; a Group or Gizmo: its Output node. A disabled node passes its input 0 through;
  one without inputs (a disabled Read) draws nothing (None: black), which a Merge treats as zero.
* Knobs are evaluated at the frame rendered (keys and expressions), as in Nuke.
Anything else raises, so a graph using an unsupported class fails the test loudly.
"""

from __future__ import annotations

import re

import numpy as np
import OpenImageIO as oiio

import nuke

CHANNELS = {"rgba.red": 0, "rgba.green": 1, "rgba.blue": 2, "rgba.alpha": 3}
CHANNEL_SETS = {"rgb": (0, 1, 2), "rgba": (0, 1, 2, 3), "alpha": (3,)}


def frame_file(pattern: str, frame: int) -> str:
    pattern = re.sub(r"#+", lambda m: str(frame).zfill(len(m.group())), pattern)
    return re.sub(r"%0?(\d*)d", lambda m: str(frame).zfill(int(m.group(1) or 0)), pattern)


class RenderError(Exception):
    """What Nuke reports when a node of the tree cannot produce its image: the render fails (``nuke -x`` exits
    non-zero) and the Viewer shows the message."""


def read_rgba(path: str) -> np.ndarray:
    image = oiio.ImageInput.open(path)
    if image is None:
        raise RenderError(f"Read error: can't open {path}")
    try:
        spec = image.spec()
        pixels = image.read_image(0, 0, 0, spec.nchannels, "float").reshape(spec.height, spec.width, spec.nchannels)
        names = [name.split(".")[-1].upper() for name in spec.channelnames]
    finally:
        image.close()
    out = np.zeros((spec.height, spec.width, 4), dtype=np.float32)
    for index, name in enumerate("RGBA"):
        if name in names:
            out[..., index] = pixels[..., names.index(name)]
    return out


def file_channels(read) -> list:
    """Channels of a Read's file at its first frame, in Nuke's naming (rgba.red ...)."""
    image = oiio.ImageInput.open(nuke.callbacks.filenameFilter(frame_file(read["file"].evaluate(),
                                                                          int(read["first"].value()))))
    try:
        names = [name.split(".")[-1].upper() for name in image.spec().channelnames]
    finally:
        image.close()
    return [channel for channel, letter in zip(CHANNELS, "RGBA") if letter in names]


# The fake OCIO config: each linear colour space as its matrix to scene-linear Rec.709 (ACEScg: AP1 -> Rec.709
# primaries, Bradford D60 -> D65, as the ACES 1.x configs give it).
TO_REC709 = {"lin_rec709": np.eye(3), "scene_linear": np.eye(3), "linear": np.eye(3),
             "ACEScg": np.array([[1.70505, -0.62179, -0.08326], [-0.13026, 1.14080, -0.01055],
                                 [-0.02400, -0.12897, 1.15297]])}


def colour_matrix(source: str, target: str) -> np.ndarray:
    """The 3x3 the fake OCIO config applies from ``source`` to ``target``."""
    unknown = [name for name in (source, target) if name not in TO_REC709]
    if unknown:
        raise RenderError(f"OCIO: colour space {unknown[0]!r} not in the config")
    return np.linalg.inv(TO_REC709[target]) @ TO_REC709[source]


def evaluate(node, frame: int) -> np.ndarray | None:
    """The RGBA image ``node`` outputs at ``frame`` (None: black, nothing drawn), its knobs (keys,
    expressions) evaluated at that frame as Nuke evaluates them for the frame it renders."""
    import nuke

    current = nuke.frame()
    nuke.frame(frame)
    try:
        return _evaluate(node, frame)
    finally:
        nuke.frame(current)


def _plus(a: np.ndarray | None, b: np.ndarray | None, channels: tuple) -> np.ndarray | None:
    """Merge plus: the ``channels`` get A + B, the others are B's; a side that draws nothing is zero."""
    if a is None:
        return b
    out = np.zeros_like(a) if b is None else b.copy()
    for channel in channels:
        out[..., channel] = out[..., channel] + a[..., channel]
    return out


def _evaluate(node, frame: int) -> np.ndarray | None:
    if node is None:
        return None
    kind = node.Class()
    if node.knob("disable") is not None and node["disable"].value() and kind not in ("Input", "Output"):
        return _evaluate(node.input(0), frame)   # a disabled Read (no input) draws nothing
    if kind == "OCIOColorSpace":
        image = _evaluate(node.input(0), frame)
        if image is None:
            return None
        image = image.copy()
        matrix = colour_matrix(node["in_colorspace"].value(), node["out_colorspace"].value())
        image[..., :3] = (image[..., :3] @ matrix.T.astype(np.float32)).astype(np.float32)
        return image
    if kind == "Read":  # before/after the first..last frames: "hold" (the Read's default)
        if node["on_error"].value() != "error":
            raise NotImplementedError(f"{node.name()}: missing frames {node['on_error'].value()!r} is not interpreted")
        held = min(max(frame, int(node["first"].value())), int(node["last"].value()))
        return read_rgba(nuke.callbacks.filenameFilter(frame_file(node["file"].evaluate(), held)))
    if kind == "Multiply":
        image = _evaluate(node.input(0), frame)
        if image is None:
            return None
        image = image.copy()
        factors = np.asarray([node["value"].value(i) for i in range(4)], dtype=np.float32)
        for channel in CHANNEL_SETS[node["channels"].value()]:
            image[..., channel] *= factors[channel]
        return image
    if kind == "Merge2":
        if node["operation"].value() != "plus" or node.inputs() > 2:
            raise NotImplementedError(f"{node.name()}: only a two-input Merge plus is interpreted")
        return _plus(_evaluate(node.input(1), frame), _evaluate(node.input(0), frame),
                     CHANNEL_SETS[node["output"].value()])
    if kind == "Copy":
        out = _evaluate(node.input(0), frame)
        if out is None:
            return None
        out = out.copy()
        source = _evaluate(node.input(1), frame)
        out[..., CHANNELS[node["to0"].value()]] = 0.0 if source is None else source[..., CHANNELS[node["from0"].value()]]
        return out
    if kind == "Switch":
        return _evaluate(node.input(int(node["which"].value())), frame)
    if kind in ("Dot", "Output"):
        return _evaluate(node.input(0), frame)
    if kind == "Input":
        return _evaluate(node._group.input(int(node["number"].value())), frame)
    if hasattr(node, "nodes"):
        output = next(n for n in node.nodes() if n.Class() == "Output")
        return _evaluate(output, frame)
    raise NotImplementedError(f"{node.name()}: class {kind} is not interpreted")
