"""Relume for Nuke: the Relume_Relight and Relume_Reenact gizmos' Python side.

Nuke does the pixel work (a native Read -> Multiply -> Merge(plus) graph inside the gizmo); this
package only converts Nuke's lights into the engine's lights file, asks the engine
(``<engine python> -m engine ...`` in a child process) for the per-stage-light weights and writes
them into knobs. Standard library only, Python 3.10+ syntax (Nuke 15); Qt through ``relume_nuke.qt``.

Modules: ``config`` (which Python runs the engine), ``engine_cli`` (child processes),
``capture`` (capture description, Nuke sequence paths), ``lights`` (Nuke lights -> lights file),
``graph`` (the live node graph), ``live`` (weights on knob and light changes), ``batch`` (engine
renders, farm chunks), ``callbacks`` (what the gizmo and menus call), ``plugin`` (paths, menus),
``panel`` and ``qt`` (the light-stage panel), ``engine_steps`` (engine commands in turn, progress and
cancel), ``reenact`` (the Relume_Reenact gizmo: track, transfer, reenact the source plate).
"""

GIZMO_CLASS = "Relume_Relight"
REENACT_CLASS = "Relume_Reenact"
