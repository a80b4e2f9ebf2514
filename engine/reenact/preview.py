"""``relume train --preview DIR``: predicted vs captured OLAT images of the first training frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from engine.errors import OutputError
from engine.reenact.network import split_outputs
from engine.track.footage import auto_expose
from relume_host.atomic import atomic_path

PREVIEW_LIGHTS = 3


def write_training_preview(trainer, path: Path) -> None:
    """PNG: top row the network's OLATs of frame 0 for a few stage lights, bottom row the captured ones."""
    data, net = trainer.data, trainer.net
    k = trainer.settings.network.history
    with torch.no_grad():
        net.eval()
        out = split_outputs(net(torch.from_numpy(data.conditions.history(0, k)[None]).to(trainer.device)),
                            trainer.settings.network.rank)
        net.train()
    coefficients = out["coefficients"][0].float().cpu()
    decoder = trainer.decoder.cpu()
    lights = np.linspace(0, len(decoder) - 1, PREVIEW_LIGHTS).round().astype(int)
    predicted = torch.einsum("lk,ckhw->lhwc", decoder[lights], coefficients).clamp(min=0).numpy()
    captured = data.stacks[0, lights].astype(np.float32).transpose(0, 2, 3, 1)
    rows = [np.concatenate([auto_expose(image) for image in images], axis=1) for images in (predicted, captured)]
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(np.concatenate(rows, axis=0)[..., ::-1])):
            raise OutputError(path, "cannot write PNG")
