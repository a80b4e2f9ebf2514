"""The conditioning's channel layout (torch-free; :mod:`engine.reenact.conditioning` renders them).

Per frame, ``CHANNELS`` float channels:

====== ===========================================================================
0-2    camera-space unit normals (x right, y up, z toward the camera); 0 off the mesh
3      depth minus the frame's median face depth, in units of ``DEPTH_UNIT_M``; 0 off the mesh
4-5    texture coordinates (u, v) of the ICT model's UV layout
6-10   region one-hot (:data:`engine.face.regions.REGIONS`, background first)
11     coverage mask
====== ===========================================================================
"""

from engine.face.regions import REGIONS

CHANNELS = 12
UV_SLICE = slice(4, 6)
REGION_SLICE = slice(6, 6 + len(REGIONS))
DEPTH_UNIT_M = 0.1      # metres
