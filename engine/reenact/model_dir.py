"""A trained model folder (``relume train --out MODEL_DIR``), loaded for inference or export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.reenact.network import ReenactNet
from engine.reenact.settings import NetworkConfig

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"     # engine.reenact.export.quantize_onnx
# config.json's version; 3: a network with history has appearance and motion branches (engine.reenact.network);
# 4: the motion branch normalises without SPADE
LAYOUT_VERSION = 4


@dataclass
class TrainedModel:
    """config (config.json), the network (weights loaded, eval mode) and the light decoder (L, rank):
    network coefficients -> linear OLAT values (the light basis times its unit)."""

    folder: Path
    config: dict
    net: ReenactNet
    basis: np.ndarray

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the training capture."""
        width, height = self.config["image_size"]
        return int(width), int(height)

    @classmethod
    def load(cls, folder: str | Path) -> TrainedModel:
        folder = Path(folder)
        config_path, checkpoint_path = folder / CONFIG_FILE, folder / CHECKPOINT_FILE
        if not config_path.is_file():
            raise InputError(folder, f"not a trained model folder (no {CONFIG_FILE}; make one with relume train)")
        try:
            config = json.loads(config_path.read_text())
            network = NetworkConfig(**config["network"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(config_path, f"unreadable model configuration ({exc})") from None
        if config.get("version", 1) < LAYOUT_VERSION:
            raise InputError(config_path, f"trained by an earlier Relume (model format version {config.get('version', 1)}, "
                             f"this one reads {LAYOUT_VERSION}: the network's layout changed); train it again")
        if not checkpoint_path.is_file():
            raise InputError(checkpoint_path, "missing: the model was never checkpointed")
        try:
            state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
            net = ReenactNet(network)
            net.load_state_dict(state["model"])
            basis = state["basis"].numpy() * float(state["unit"])
        except Exception as exc:  # torch raises many types for a damaged zip/pickle
            raise InputError(checkpoint_path, f"corrupt or truncated checkpoint ({str(exc).splitlines()[0][:200]})") from None
        return cls(folder, config, net.eval(), basis)
