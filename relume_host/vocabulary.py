"""Closed vocabularies that cross the seam between the hosts and the engine: the values travel as strings (in
lights requests, command lines, the service's JSON), and each side reads them from here."""

from __future__ import annotations

from enum import Enum


class WeightMethod(str, Enum):
    """How light between stage directions is shared among stage lights: among the three stage lights around it
    (smooth as a light moves) or all to the nearest one."""

    BARYCENTRIC = "barycentric"
    VORONOI = "voronoi"


DEFAULT_WEIGHT_METHOD = WeightMethod.BARYCENTRIC


class JobState(str, Enum):
    """An engine job's state, as the service's ``GET /jobs/<id>`` reports it: waiting, working, or ended."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
