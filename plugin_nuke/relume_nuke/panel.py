"""The light-stage panel: each stage light's current weight on the dome, and the environment map
with the stage lights drawn where they sample it.

Dome: the stage seen from the camera (front hemisphere, z >= 0, subject looking at you) and from
behind (back hemisphere, z < 0, mirrored so left stays the subject's right), orthographic. Each
light is a dot coloured by its RGB weight (normalised to the largest weight, gamma 2.2) and sized
by its luminance; unlit lights are hollow rings.
Environment: the HDRI's lat-long preview (made by ``relume hdri-preview``) in the engine's mapping
(u = 0.5 + atan2(z, x) / 2 pi, top row +Y); stage light i, lit from direction d_i, sees the
pixel at R_y(rotate) d_i, which is where its dot is drawn.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from dataclasses import dataclass, field

from relume_nuke.qt import QtCore, QtGui, QtWidgets

Qt = QtCore.Qt
BACKGROUND = QtGui.QColor(38, 38, 38)
DISC = QtGui.QColor(56, 56, 56)
LINE = QtGui.QColor(96, 96, 96)
TEXT = QtGui.QColor(200, 200, 200)
REC709 = (0.2126, 0.7152, 0.0722)
# drawText's int-flags overload: PySide2 on Python 3.10+ no longer converts its enum implicitly.
CENTRED = int(Qt.AlignmentFlag.AlignCenter)


@dataclass
class StageState:
    """What the panel draws: stage directions (engine frame), weights (L, 3), an optional
    environment preview image with its rotation (degrees, engine convention)."""

    title: str
    directions: list
    weights: list
    env_image: str | None = None
    rotate_deg: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def peak(self) -> float:
        return max((max(w) for w in self.weights), default=0.0)


def rotate_y(direction: tuple, degrees: float) -> tuple:
    """R_y(degrees) d, right-handed about +Y (the engine's HDRI rotation)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    x, y, z = direction
    return (c * x + s * z, y, -s * x + c * z)


def latlong_uv(direction: tuple) -> tuple:
    """Engine lat-long coordinates (u, v) in [0, 1] of a unit direction (v = 0 looks up +Y)."""
    x, y, z = direction
    return 0.5 + math.atan2(z, x) / (2 * math.pi), math.acos(max(-1.0, min(1.0, y))) / math.pi


def weight_colour(rgb: tuple, peak: float) -> QtGui.QColor:
    """Display colour of a weight, relative to the largest weight ``peak``."""
    scale = 1.0 / peak if peak > 0 else 0.0
    channels = [int(round(255 * min(1.0, max(0.0, v * scale)) ** (1 / 2.2))) for v in rgb]
    return QtGui.QColor(*channels)


def dot_radius(rgb: tuple, peak: float, size: float) -> float:
    """Dot radius in pixels: 2.5 + up to ``size`` for the brightest light."""
    luminance = sum(c * w for c, w in zip(REC709, rgb))
    return 2.5 + size * math.sqrt(max(0.0, luminance) / peak) if peak > 0 else 2.5


def draw_light(painter: QtGui.QPainter, centre: QtCore.QPointF, rgb: tuple, peak: float, size: float) -> None:
    if max(rgb) > 0:
        painter.setPen(QtGui.QPen(QtGui.QColor(0, 0, 0), 1.0))
        painter.setBrush(weight_colour(rgb, peak))
    else:
        painter.setPen(QtGui.QPen(LINE, 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
    radius = dot_radius(rgb, peak, size)
    painter.drawEllipse(centre, radius, radius)


class DomeView(QtWidgets.QWidget):
    """The stage from the front (z >= 0) and from behind (z < 0), each light a weight-coloured dot."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.state: StageState | None = None
        self.setMinimumSize(560, 300)

    VIEWS = (("front (camera side, +Z)", True), ("back (-Z, seen from behind)", False))

    def radius(self) -> float:
        return min(self.width() / 4.0, self.height() / 2.0 - 22) - 8

    def centre(self, front: bool) -> QtCore.QPointF:
        return QtCore.QPointF(self.width() * (0.25 if front else 0.75), self.height() / 2.0 + 8)

    def project(self, direction: tuple) -> QtCore.QPointF:
        """Where a stage direction (engine frame) is drawn: orthographic, front disc for z >= 0
        seen from +Z, back disc for z < 0 seen from -Z (x mirrored)."""
        x, y, z = direction
        front = z >= 0
        centre, radius = self.centre(front), self.radius()
        return QtCore.QPointF(centre.x() + (x if front else -x) * radius, centre.y() - y * radius)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), BACKGROUND)
        radius = self.radius()
        for label, front in self.VIEWS:
            centre = self.centre(front)
            x, y = centre.x(), centre.y()
            painter.setPen(QtGui.QPen(LINE, 1.0))
            painter.setBrush(DISC)
            painter.drawEllipse(centre, radius, radius)
            painter.drawLine(QtCore.QPointF(x - radius, y), QtCore.QPointF(x + radius, y))
            painter.drawLine(QtCore.QPointF(x, y - radius), QtCore.QPointF(x, y + radius))
            painter.setPen(TEXT)
            painter.drawText(QtCore.QRectF(x - radius, 4, 2 * radius, 18), CENTRED, label)
        if self.state is not None:
            state = self.state
            for index in sorted(range(len(state.directions)), key=lambda i: max(state.weights[i])):  # lit on top
                draw_light(painter, self.project(state.directions[index]), state.weights[index], state.peak,
                           radius / 14.0)
        painter.end()


class EnvironmentView(QtWidgets.QWidget):
    """The environment's lat-long preview with the stage lights where they sample it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.state: StageState | None = None
        self.image: QtGui.QImage | None = None
        self.setMinimumSize(560, 280)

    def set_state(self, state: StageState) -> None:
        self.state = state
        image = QtGui.QImage(state.env_image) if state.env_image else None
        self.image = image if image is not None and not image.isNull() else None
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), BACKGROUND)
        width = min(self.width() - 16.0, 2.0 * (self.height() - 16.0))
        area = QtCore.QRectF((self.width() - width) / 2.0, (self.height() - width / 2.0) / 2.0, width, width / 2.0)
        if self.image is not None:
            painter.drawImage(area, self.image)
        else:
            painter.fillRect(area, DISC)
            painter.setPen(TEXT)
            painter.drawText(area, CENTRED, "no environment map (connect a Read to env)")
        painter.setPen(QtGui.QPen(LINE, 1.0, Qt.PenStyle.DashLine))
        painter.drawLine(QtCore.QPointF(area.left(), area.center().y()), QtCore.QPointF(area.right(), area.center().y()))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(area)
        if self.state is not None:
            for index in sorted(range(len(self.state.directions)), key=lambda i: max(self.state.weights[i])):
                u, v = latlong_uv(rotate_y(self.state.directions[index], self.state.rotate_deg))
                point = QtCore.QPointF(area.left() + u * area.width(), area.top() + v * area.height())
                draw_light(painter, point, self.state.weights[index], self.state.peak, area.height() / 28.0)
        painter.end()


class RelumePanel(QtWidgets.QWidget):
    """The panel: title, dome, environment, notes; ``loader`` returns the StageState to show."""

    def __init__(self, loader, parent=None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.setWindowTitle("Relume light stage")
        self.title = QtWidgets.QLabel()
        self.dome = DomeView()
        self.environment = EnvironmentView()
        self.notes = QtWidgets.QLabel()
        self.notes.setWordWrap(True)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.title, self.dome, self.environment, self.notes, refresh):
            layout.addWidget(widget)
        palette = self.palette()
        palette.setColor(QtGui.QPalette.ColorRole.Window, BACKGROUND)
        palette.setColor(QtGui.QPalette.ColorRole.WindowText, TEXT)
        self.setPalette(palette)
        self.setAutoFillBackground(True)
        self.refresh()

    def refresh(self) -> None:
        state = self.loader()
        self.title.setText(f"<b>{state.title}</b>")
        self.dome.state = state
        self.dome.update()
        self.environment.set_state(state)
        lit = sum(1 for w in state.weights if max(w) > 0)
        self.notes.setText("; ".join([f"{lit} of {len(state.weights)} stage lights lit, largest weight "
                                      f"{state.peak:.4g}", *state.notes]))


# --- binding to a gizmo (Nuke side) ---------------------------------------------------------

_OPEN: dict = {}
_PREVIEWS: dict = {}   # preview PNG path -> None while the engine makes it, else the problem (str) it met


def preview_path(hdri: str, width: int = 512) -> str:
    """Where the PNG preview of ``hdri`` is cached in the temp folder (by path, mtime and width)."""
    stamp = f"{os.path.abspath(hdri)}:{os.path.getmtime(hdri)}:{width}"
    return os.path.join(tempfile.gettempdir(), "relume_nuke", f"env_{hashlib.sha1(stamp.encode()).hexdigest()[:16]}.png")


def environment_preview(hdri: str, node_name: str, width: int = 512) -> tuple:
    """(PNG path or None, problem or None) of the preview of ``hdri``. A missing preview is made by the engine on
    a worker thread, never in Nuke's GUI thread; the panel of ``node_name`` is refreshed when it is there."""
    from relume_nuke.engine_cli import PROBLEMS, run_engine
    from relume_nuke.host import in_main_thread

    out = preview_path(hdri, width)
    if os.path.isfile(out):
        return out, None
    if out in _PREVIEWS:
        return None, _PREVIEWS[out]
    _PREVIEWS[out] = None

    def work() -> None:
        try:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            run_engine("hdri-preview", hdri, "--out", out, "--width", str(width))
            del _PREVIEWS[out]
        except PROBLEMS as problem:   # shown in the panel
            _PREVIEWS[out] = f"environment preview: {problem}"
        in_main_thread(refresh_named, node_name)

    threading.Thread(target=work, name=f"relume preview {node_name}", daemon=True).start()
    return None, None


def wait_for_previews(timeout: float = 60.0) -> None:
    """Block until no preview is being made (tests)."""
    for thread in [t for t in threading.enumerate() if t.name.startswith("relume preview ")]:
        thread.join(timeout)


def state_for(gizmo) -> StageState:
    """The StageState of a Relume_Relight gizmo: its capture, the weights at the current frame, its environment."""
    import nuke
    from relume_nuke import graph, live, state

    info = state.stored_capture(gizmo)
    if info is None:
        return StageState(f"{gizmo.name()}: no capture loaded", [], [])
    weights = graph.weights_at(gizmo, nuke.frame())
    entries, notes = live.lighting_entries(gizmo)
    env = next((e for e in entries if e["type"] == "environment"), None)
    image, problem = environment_preview(env["hdri"], gizmo.fullName()) if env else (None, None)
    title = f"{gizmo.name()}: {info.light_count} stage lights in {info.folder}"
    return StageState(title, [list(d) for d in info.directions], [list(w) for w in weights], image,
                      env["rotate_deg"] if env else 0.0, notes + ([problem] if problem else []))


def main_window():
    """Nuke's main window (the top-level QMainWindow): the panel's parent, so that it lives as long as Nuke does
    and not as long as whatever floating window was active when it opened."""
    return next((w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMainWindow)), None)


def _alive(panel) -> bool:
    """Whether a panel's Qt object still exists (Qt may have deleted it with a parent)."""
    try:
        panel.isVisible()
        return True
    except RuntimeError:   # "Internal C++ object already deleted"
        return False


def show_for(gizmo) -> RelumePanel:
    """Open (or raise) the panel of ``gizmo`` as a tool window over Nuke's main window."""
    import nuke

    name = gizmo.fullName()
    panel = _OPEN.get(name)
    if panel is None or not _alive(panel):
        panel = RelumePanel(lambda: state_for(nuke.toNode(name)), main_window())
        panel.setWindowFlags(Qt.WindowType.Tool)
        _OPEN[name] = panel
    panel.show()
    panel.raise_()
    return panel


def refresh(gizmo) -> None:
    """Redraw the gizmo's panel if it is open (called after new weights are applied)."""
    refresh_named(gizmo.fullName())


def refresh_named(name: str) -> None:
    """Redraw the panel of the gizmo called ``name`` if it is open (main thread)."""
    panel = _OPEN.get(name)
    if panel is not None and _alive(panel) and panel.isVisible():
        panel.refresh()
