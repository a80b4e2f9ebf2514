"""The reenactment's settings and their defaults in one torch-free module: ``relume train``, ``reenact`` and
``export`` state them in their help without importing torch, and the engine takes them as typed objects.

Units: steps, pixels, seconds, bytes; learning rates per Adam step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from engine.face.regions import REGIONS
from engine.reenact.channels import CHANNELS

# relume reenact --temporal-smoothing: chosen on the tuning capture (seed 22) at 1200 steps, the largest value that
# cost at most 0.1 dB against 0; see engine.reenact.reenact's module doc
TEMPORAL_SMOOTHING = 0.8
# the reenacted matte's black and white points: the network's sigmoid never reaches 0 or 1, and left as it is
# its background (0.002-0.004 on the tuning capture) would veil the whole frame in a comp and a relight; a matte
# value a is written as clip((a - black) / (white - black), 0, 1) (engine.reenact.reenact.decode_olats)
MATTE_BLACK, MATTE_WHITE = 0.01, 0.99
# relume train --memory-gb: training stacks above this are streamed from a file (engine.reenact.data)
STACK_MEMORY_BYTES = 8 * 1024 ** 3


class Runtime(StrEnum):
    """What runs the network in ``relume reenact``."""

    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"


class Precision(StrEnum):
    """The ONNX model's arithmetic: ``auto`` is int8 where onnxruntime runs on the CPU and float32 where it has
    CUDA (its int8 kernels are the CPU's; :mod:`engine.reenact.export`)."""

    AUTO = "auto"
    FLOAT32 = "float32"
    INT8 = "int8"


class ExportFormat(StrEnum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network (:mod:`engine.reenact.network`). ``history``: frames before t it sees (k; the motion
    branch's input); ``rank``: light-basis size; ``blend``: compose frame t with frame t-1's warped output
    (:func:`engine.reenact.network.blend_previous`; needs ``history`` >= 1)."""

    history: int = 2
    rank: int = 16
    width: int = 32            # the appearance branch's channels at its first level; doubled at each of ``levels``
    levels: int = 3
    motion_width: int = 16     # the same for the motion branch (``history`` >= 1)
    texture: int = 16          # neural texture channels (0: none)
    texture_size: int = 128    # texels per UDIM tile side
    semantic: bool = True      # the appearance branch's SPADE; False: plain instance norm (the ablation)
    blend: bool = True

    @property
    def recurrent(self) -> bool:
        """Whether frame t's output depends on frame t-1's (a blend weight is predicted)."""
        return self.blend and self.history > 0

    @property
    def in_channels(self) -> int:
        return CHANNELS * (self.history + 1)

    @property
    def out_channels(self) -> int:
        return self.appearance_channels + self.motion_channels

    @property
    def appearance_channels(self) -> int:
        """The appearance branch's outputs: coefficients, alpha, segmentation (and, without history, flow)."""
        return 3 * self.rank + 1 + len(REGIONS) + (0 if self.history else 2)

    @property
    def motion_channels(self) -> int:
        """The motion branch's outputs: flow and, when recurrent, the blend weight (none without history)."""
        return 2 + int(self.recurrent) if self.history else 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the training losses (:mod:`engine.reenact.train`)."""

    olat: float = 1.0
    relit: float = 1.0
    segmentation: float = 0.1
    alpha: float = 0.5
    flow: float = 0.02
    temporal: float = 0.5


@dataclass(frozen=True)
class TrainSettings:
    """``relume train``'s settings (:func:`engine.reenact.train.train`)."""

    steps: int = 1200                  # 18-19 min on the Intel Xeon, 15-17 on the AMD EPYC (both measured; README)
    batch: int = 2
    crop: int = 128                    # pixels; whole frames when the image is smaller
    learning_rate: float = 1e-3
    texture_learning_rate: float = 2e-2   # the neural texture's texels: free parameters, each seen rarely
    seed: int = 0
    olat_lights: int = 8
    checkpoint_seconds: float = 120.0
    checkpoint_every: int = 0          # also every N steps (0: by time only)
    preview_every: int = 100
    device: str = "cpu"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    losses: LossWeights = field(default_factory=LossWeights)
