"""Relume's sidebar panels in the 3D view."""
