"""Helpers shared by the tests (Cycles renders through bpy in a child process, metrics)."""
