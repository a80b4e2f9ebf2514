"""Relume engine: light-stage relighting, face capture and expression transfer.

Engine frame everywhere: Y up, right-handed, subject looking +Z toward the camera, metres.
Adapters (Nuke, Blender) convert into this frame before they call the engine.
"""

__version__ = "0.1.0"
