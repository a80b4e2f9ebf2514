"""Relight feature: scene lights to the engine, relit plate back into Blender (operators, UI, live mode)."""
