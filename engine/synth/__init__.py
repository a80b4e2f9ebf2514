"""The synthetic light stage: a procedural performer rendered under a dome of stage lights, written
as a capture (OLAT EXR sequences) with its ground truth. Entry points: :func:`engine.synth.generate.generate`
and ``python -m engine synth`` (:mod:`engine.synth.cli`)."""
