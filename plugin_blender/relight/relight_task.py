"""Relight Plate as an engine task: one relight job, then the plate shown the way the panel says."""

from __future__ import annotations

import os

import bpy

from ..core.service import ServiceClient
from .engine_task import EngineTask, Outcome
from .plan import RelightPlan
from .plate import show_plate


def show_relit(scene: bpy.types.Scene, plan: RelightPlan, paths: list[str]) -> Outcome:
    """Show the frames a relight job wrote for ``plan``; the task's outcome."""
    show_plate(scene, paths[0], plan.scene_frames[0], plan.plate_frames[0], len(paths))
    return Outcome("FINISHED", "INFO", f"Relit {len(paths)} frame(s) into {os.path.dirname(paths[0])}")


class RelightTask(EngineTask):
    """Relight ``plan`` and show the result."""

    def __init__(self, client: ServiceClient, scene: bpy.types.Scene, plan: RelightPlan) -> None:
        super().__init__(client)
        self.scene, self.plan = scene, plan
        self.label = "Relighting"
        self.warnings = list(plan.warnings)

    def start(self) -> dict:
        return self.client.relight(self.plan.body)

    def job_done(self, state: dict) -> Outcome:
        return show_relit(self.scene, self.plan, state["paths"])
