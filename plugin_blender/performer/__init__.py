"""The performer feature: the target's face model as a shape-key rig, keyed from a track, reenacted and relit."""
