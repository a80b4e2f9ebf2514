"""Qt for the panel: PySide6 (Nuke 16 and later) or PySide2 (Nuke 13 to 15), whichever loads.

Only names that both bindings spell the same way are used by the panel (fully scoped enums such
as ``QtCore.Qt.AlignmentFlag.AlignCenter``, which PySide2 5.13+ and PySide6 both accept).
"""

try:
    from PySide6 import QtCore, QtGui, QtWidgets

    BINDING = "PySide6"
except ImportError:
    from PySide2 import QtCore, QtGui, QtWidgets  # noqa: F401 (re-exported)

    BINDING = "PySide2"

__all__ = ["BINDING", "QtCore", "QtGui", "QtWidgets"]
