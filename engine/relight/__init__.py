"""Relighting: weighted sums of OLAT images, from EXR files or from the decoded cache."""

from engine.relight.frame import relight_frame

__all__ = ["relight_frame"]
