"""What to light a capture with, as the CLI and the service both build it: validated here, once, and
turned into stage weights (every frame's, and those of frames lit otherwise when lights animate)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.lighting.lights import LightsFile
from engine.lighting.weights import METHODS, capture_weights
from engine.stage.capture import Capture
from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD, WeightMethod


@dataclass(frozen=True)
class Lighting:
    """A capture, its lights (:class:`LightsFile`: every frame's, and per-frame ones), an exposure change in
    stops (range-checked by :func:`capture_weights`) and how light is shared among stage lights. ``where`` names
    a bad ``method`` as its caller calls it (the service: ``request: '{}'``, the command line: ``--{}``)."""

    capture: Capture
    lights: LightsFile
    exposure: float = 0.0
    method: WeightMethod = DEFAULT_WEIGHT_METHOD
    where: str = "{}"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "method", WeightMethod(self.method))
        except ValueError:
            raise InputError(self.where.format("method"), f"must be one of {', '.join(METHODS)}, "
                                                          f"got {self.method!r}") from None

    def weights(self, cache: Path | None = None) -> np.ndarray:
        """(L, 3) stage weights of the lights that light every frame (``cache``: environment integrals on disk)."""
        return capture_weights(self.capture, self.lights.lights, self.method, self.exposure, cache)

    def frame_weights(self, frames: Iterable[int], cache: Path | None = None) -> dict[int, np.ndarray]:
        """(L, 3) stage weights of each of ``frames`` lit by its own lights (an environment's integral is computed
        once and kept, see :func:`engine.lighting.weights.environment_received`)."""
        return {frame: capture_weights(self.capture, self.lights.frames[frame], self.method, self.exposure, cache)
                for frame in frames if frame in self.lights.frames}
