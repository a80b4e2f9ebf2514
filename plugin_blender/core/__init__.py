"""Host-independent part of the Relume add-on: plain Python, no ``bpy``, no engine imports.

- :mod:`.scene_to_lights`: Blender light and world settings (as plain data) to the engine's
  lights-file entries, in the engine frame and units.
- :mod:`.lights_file`: those entries as a YAML lights file ``relume relight --lights`` reads.
- :mod:`.constant_hdri`: a uniform world colour as a tiny lat-long image file.
- :mod:`.engine_location`: which Python runs the engine (preferences, then ``~/.relume/config.json``).
- :mod:`.service`: start the engine's local HTTP service and call it (urllib, one token per session).
"""
