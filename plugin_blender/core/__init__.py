"""Host-independent part of the Relume add-on: plain Python, no ``bpy``, no engine imports. Which Python runs
the engine, atomic writes and job states come from the shared ``relume_host`` package (the extension's
``relume_host/`` subpackage, copied in by install.py).

- :mod:`.scene_to_lights`: Blender light and world settings (as plain data) to the engine's
  lights-file entries, in the engine frame and units.
- :mod:`.constant_hdri`: a uniform world colour as a tiny lat-long image file.
- :mod:`.service`: start the engine's local HTTP service and call it (urllib, one token per session).
"""
