"""``relume serve``: the engine as a local HTTP service for the Blender and Nuke adapters.

The adapters never import the engine; they start ``python -m engine serve --port 0 --token-file F``
and talk JSON over HTTP on 127.0.0.1. Protocol (every request carries
``Authorization: Bearer <token>``, else 401):

- ``GET /health`` -> ``{"ok": true, "service": "relume", "version", "pid", "device", "captures"}``
- ``POST /weights`` ``{capture, lights: [lights-file dicts], exposure?, method?, frame_lights?}``
  -> ``{"light_ids": [...], "weights": [[r, g, b], ...], "frames": {frame: weights}}`` (the frames of
  ``frame_lights``, as ``relume weights --json``)
- ``POST /relight`` ``{capture, lights, out: "dir/name.####.exr", frames?, exposure?, method?,
  skip_existing?, wait?, frame_lights?}`` -> 202 ``{"job": id, "state", "done", "total", "paths"}``;
  with ``wait: true`` the reply (200) comes when the job has ended. ``frame_lights`` ``{frame: [lights]}``
  lights those frames with their own lights (animated lights); other frames use ``lights``. The lighting
  fields are validated by :class:`engine.lighting.request.Lighting`, which the command line builds too.
- ``POST /rig`` ``{track, out}`` -> ``{"rig": out}``: the performer rig of a track (mesh with the
  identity applied, expression shape keys, the track's animation; :mod:`engine.track.rig`).
- ``POST /track`` ``{rig, out, frames: {number: {expression: {name: weight}, rotation, translation}}}``
  -> ``{"track": out, "frames": n}``: a host's keyed animation of that rig as a ``.track``.
- ``POST /reenact`` ``{model, track, out, runtime?, precision?, temporal_smoothing?, skip_existing?, wait?}``
  -> a job like ``/relight``'s, writing the reenacted capture folder ``out`` (``relume reenact`` and its
  options: runtime ``onnxruntime|torch``, precision ``auto|float32|int8``, temporal_smoothing 0 to below 1).
- ``GET /jobs/<id>`` -> ``{"job", "state": queued|running|done|failed|cancelled, "done", "total",
  "paths" (written so far), "error"}``
- ``POST /jobs/<id>/cancel`` -> the job's state; frames already written are kept (atomic files).
- ``POST /shutdown`` -> ``{"ok": true}``, then the service exits.

Every request may carry ``project``: an absolute folder that its relative paths (capture, out, track,
model, rig, environment files) are relative to; without it a relative path is refused (the service
has no working folder of its own). Outputs carry their endpoint's suffix (``.exr``, ``.track``, ``.npz``).

Bad input answers 400 ``{"error": "<path or setting>: <problem>"}`` (the engine's InputError text); a
``Host`` header naming anything but ``127.0.0.1``/``localhost`` (DNS rebinding) 403, a body over 16 MiB
413, a request not received within 5 s 408. Trust model: the token (mode 0600 file in a 0700 folder)
is the user's own authority; its holder can make the service read and write what the user can, as the
``relume`` command line can, and nothing else (README, *The engine service*).
The ``--token-file`` receives ``{"port", "token", "pid"}`` (mode 0600, written atomically) once
the service is ready; the token is never printed. Lights and frames use the engine frame and
units of the lights file (see :mod:`engine.lighting.lights`).
"""
