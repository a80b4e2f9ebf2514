"""Generate a synthetic light-stage capture with its ground truth (``python -m engine synth``).

Folder written (frames numbered from ``first_frame``, default 1001)::

    capture.yaml                          capture format (engine.stage.capture), written last
    olat/L{light:03d}/frame.{frame:04d}.exr   one half-float RGBA image per stage light; A = mask
    tracking/frame.{frame:04d}.exr        all stage lights at once (a uniform white dome of radiance 1)
    matte/frame.{frame:04d}.exr           coverage mask in R, G, B and A
    ground_truth/params.json (+ .npz)     identity, expressions, head pose, camera, 2-D landmarks per frame
    ground_truth/segmentation/frame.{frame:04d}.png   8-bit region ids (FaceModel.REGIONS, 0 = background)
    ground_truth/albedo/frame.{frame:04d}.exr         diffuse albedo (A = mask)
    ground_truth/normal/frame.{frame:04d}.exr         world-frame unit normals (A = mask)
    ground_truth/uv/frame.{frame:04d}.exr             float texture coordinates (R = u, G = v; A = mask)
    ground_truth/flow_forward|flow_backward/frame.{frame:04d}.exr   float flow (engine.synth.flow)
    ground_truth/relit/frame.{frame:04d}.exr          direct render under --relight (every Nth frame)
    source/frames/frame.{frame:04d}.png + source/linear/... + source/params.json   (--source-video; lit by
                                          SOURCE_LIGHTS or --source-lights, see SynthOptions)
    contact_sheet.png                                 (--contact-sheet)
    ground_truth/README.txt                           this description and the flow convention

Everything follows from the seed: the same options give the same files. Each file is written
atomically; ``skip_existing`` resumes a stopped run (frames whose files all exist are not rendered
again), and refuses to mix runs with different options.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.io.colour import REC709_LUMA
from engine.lighting.hdri import DirectionalSamples
from engine.lighting.lights import load_lights
from engine.render.camera import Camera
from engine.stage.capture import write_capture_yaml
from engine.synth import flow as flow_module
from engine.synth.contact_sheet import write_contact_sheet
from engine.synth.direct import direct_samples
from engine.synth.dome import Dome, make_dome
from engine.synth.flow import surface_flow
from engine.synth.layout import (
    FORMAT,
    GROUND_TRUTH,
    GT_PATTERNS,
    MATTE_PATTERN,
    OLAT_PATTERN,
    PARAMS_FILE,
    RELIT_PATTERN,
    SOURCE,
    SOURCE_PATTERNS,
    TRACKING_PATTERN,
)
from engine.synth.material import procedural_skin
from engine.synth.output import ImageWriter
from engine.synth.performer import Performance, make_performance
from engine.synth.render import FrameSurface, StageRenderer
from relume_host.atomic import write_bytes_atomic

# Stage performer and source performer draw from separate random streams of the same seed.
STAGE_STREAM, SOURCE_STREAM = 0, 1
# The source performer's "ordinary" lighting: warm key, cool fill, rim (direction, irradiance),
# plus a dim uniform ambient of this radiance through the dome's directions.
SOURCE_LIGHTS = (((-0.55, 0.45, 0.70), (2.4, 2.15, 1.85)), ((0.75, 0.05, 0.65), (0.55, 0.62, 0.75)),
                 ((0.35, 0.55, -0.75), (1.6, 1.6, 1.6)))
SOURCE_AMBIENT = 0.06


@dataclass(frozen=True)
class SynthOptions:
    """What ``python -m engine synth`` makes (see the module doc for the folder)."""

    out: Path
    lights_count: int = 150
    frames: int = 100
    size: int = 256
    seed: int = 0
    first_frame: int = 1001
    relight: Path | None = None
    relight_every: int = 10
    relight_directions: int = 1024
    source_video: bool = False
    source_lights: Path | None = None  # lights file for the source video (default: SOURCE_LIGHTS + ambient)
    contact_sheet: bool = False
    skip_existing: bool = False
    floor_deg: float | None = None
    shadow_resolution: int = 128
    fps: float = 24.0
    model_path: Path | None = None
    progress: bool = True
    threads: int = 2

    def validate(self) -> None:
        checks = (
            ("--lights-count", self.lights_count >= 4, "needs at least 4 stage lights"),
            ("--frames", self.frames >= 1, "needs at least one frame"),
            ("--size", 16 <= self.size <= 8192, "image size must be 16..8192 pixels"),
            ("--first-frame", self.first_frame >= 0, "frame numbers must not be negative"),
            ("--relight-every", self.relight_every >= 1, "must be at least 1"),
            ("--relight-directions", self.relight_directions >= 16, "needs at least 16 directions"),
            ("--shadow-resolution", 16 <= self.shadow_resolution <= 2048, "must be 16..2048 cells"),
            ("--fps", self.fps > 0, "must be positive"),
        )
        for where, ok, problem in checks:
            if not ok:
                raise InputError(where, problem)
        if self.floor_deg is not None and not -90.0 <= self.floor_deg < 90.0:
            raise InputError("floor_deg", "must be in [-90, 90)")
        if self.source_lights is not None and not self.source_video:
            raise InputError("--source-lights", "lights the source video: needs --source-video")

    def signature(self) -> dict:
        """The options that decide the pictures (a resumed run must match them)."""
        keys = ("lights_count", "frames", "size", "seed", "first_frame", "floor_deg", "shadow_resolution", "fps")
        lights = None if self.source_lights is None else str(Path(self.source_lights).resolve())
        return {k: v for k, v in asdict(self).items() if k in keys} | {"source_lights": lights}


def stage_camera(size: int) -> Camera:
    """The stage camera: 1 m in front of the face on +Z, 20 degree vertical field of view."""
    return Camera.look_at((0.0, 0.0, 1.0), (0.0, -0.01, 0.0), (0.0, 1.0, 0.0), 20.0, size, size)


def source_camera(size: int) -> Camera:
    """The source video's camera: a little to the side and above, slightly wider."""
    return Camera.look_at((0.12, 0.05, 1.1), (0.0, -0.01, 0.0), (0.0, 1.0, 0.0), 22.0, size, size)


@dataclass
class Performer:
    """A performance with its material and renderer; ``vertices(i)`` gives frame i's posed mesh."""

    model: FaceModel
    performance: Performance
    renderer: StageRenderer
    identity: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.identity = torch.from_numpy(self.performance.identity).float()[None]

    def vertices(self, index: int) -> torch.Tensor:
        expression = torch.from_numpy(self.performance.expressions[index])[None]
        with torch.no_grad():
            return self.performance.posed(self.model.vertices(self.identity, expression)[0], index)


def make_performer(model: FaceModel, seed: int, stream: int, frames: int, camera: Camera, fps: float,
                   shadow_resolution: int) -> Performer:
    """A performer drawn from (seed, stream): identity, expressions, head motion and skin (all from
    the performer seed ``2 * seed + stream``, so streams of different seeds never coincide)."""
    performance = make_performance(seed * 2 + stream, model.expression_names, frames, model.identity_count, fps=fps)
    with torch.no_grad():
        neutral = model.vertices(torch.from_numpy(performance.identity).float()[None])[0]
    material = procedural_skin(model, neutral, seed * 2 + stream)
    return Performer(model, performance, StageRenderer(model, camera, material, neutral, shadow_resolution))


def camera_record(camera: Camera) -> dict:
    """JSON description of a camera (OpenCV K in pixels, engine world_to_camera looking down -Z)."""
    return {"K": camera.K.tolist(), "world_to_camera": camera.world_to_camera.tolist(),
            "width": camera.width, "height": camera.height,
            "convention": "engine.render.camera: K OpenCV pixels (origin top-left corner), world_to_camera "
                          "maps engine-frame world points to a camera looking down -Z, y up"}


def performance_record(performer: Performer, camera: Camera, frames: list[int], seed: int, stream: int) -> dict:
    """Per-frame ground-truth parameters of a performer as JSON-ready lists."""
    p = performer.performance
    landmarks = []
    for index in range(p.frame_count):
        xy, _ = camera.project(performer.model.landmarks(performer.vertices(index)))
        landmarks.append(xy.tolist())
    return {
        "format": FORMAT, "seed": seed, "stream": stream, "frames": frames,
        "identity": p.identity.tolist(), "expression_names": performer.model.expression_names,
        "expressions": p.expressions.tolist(), "head_rotation": p.rotations.tolist(),
        "head_translation": p.translations.tolist(), "head_pivot": p.pivot.tolist(),
        "vertices": "v = R @ (FaceModel.vertices(identity, expression) - head_pivot) + head_pivot + t, "
                    "metres, engine frame",
        "camera": camera_record(camera), "landmarks_2d": landmarks,
        "regions": list(FaceModel.REGIONS),
    }


def write_params(folder: Path, record: dict) -> None:
    """``params.json`` plus ``params.npz`` (the same numbers as arrays) in ``folder``."""
    write_bytes_atomic(folder / PARAMS_FILE, json.dumps(record, indent=1).encode())
    arrays = {k: np.asarray(record[k]) for k in ("frames", "identity", "expressions", "head_rotation",
                                                   "head_translation", "head_pivot", "landmarks_2d")}
    arrays["K"] = np.asarray(record["camera"]["K"])
    arrays["world_to_camera"] = np.asarray(record["camera"]["world_to_camera"])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(folder / "params.npz", buffer.getvalue())


def _rgba(surface: FrameSurface, values: torch.Tensor, dtype: torch.dtype = torch.float16) -> np.ndarray:
    """(..., P, 3) pixel values -> (..., H, W, 4) images of ``dtype`` with alpha = mask."""
    alpha = torch.ones(*values.shape[:-1], 1, dtype=values.dtype)
    return surface.to_image(torch.cat([values, alpha], dim=-1)).to(dtype).numpy()


def _labels(renderer: StageRenderer, surface: FrameSurface) -> np.ndarray:
    ids = surface.gbuffer.triangle_id
    return torch.where(ids >= 0, renderer.submesh.triangle_region[ids.clamp(min=0)], 0).numpy()


class StageJob:
    """One ``synth`` run: validates everything up front, then renders frame by frame."""

    def __init__(self, options: SynthOptions) -> None:
        options.validate()
        self.options = options
        self.out = Path(options.out)
        self.model = _load_model(options.model_path)
        self.relight = None
        if options.relight is not None:
            self.relight = direct_samples(load_lights(options.relight), options.relight_directions)
        self.dome: Dome = make_dome(options.lights_count, options.floor_deg, seed=options.seed)
        self.frames = [options.first_frame + i for i in range(options.frames)]
        self.camera = stage_camera(options.size)
        self.gt = self.out / GROUND_TRUTH
        self.source_camera = source_camera(options.size)
        if options.source_video:
            self.source_light, self.source_record = self._source_lighting()

    # ------------------------------------------------------------------ paths
    def _frame_paths(self, frame: int, index: int) -> list[Path]:
        paths = [self.out / OLAT_PATTERN.format(light=i, frame=frame) for i in range(self.dome.light_count)]
        paths += [self.out / TRACKING_PATTERN.format(frame=frame), self.out / MATTE_PATTERN.format(frame=frame)]
        paths += [self.gt / pattern.format(frame=frame) for pattern in GT_PATTERNS.values()]
        if self._relit_frame(index):
            paths.append(self.gt / RELIT_PATTERN.format(frame=frame))
        return paths

    def _relit_frame(self, index: int) -> bool:
        return self.relight is not None and index % self.options.relight_every == 0

    def _check_resume(self, folder: Path, signature: dict) -> None:
        params = folder / PARAMS_FILE
        if not params.is_file():
            return
        try:
            previous = json.loads(params.read_text()).get("options")
        except (OSError, ValueError):
            previous = None
        if previous != signature:
            raise InputError(params, f"--skip-existing: this folder was made with other options ({previous}); "
                             "use a new folder or the same options")

    # ------------------------------------------------------------------ run
    def run(self) -> Path:
        """Render the capture (and source video, contact sheet when asked); returns capture.yaml's path."""
        threads = torch.get_num_threads()
        # Rendering and EXR encoding overlap: torch takes one thread fewer than the writers, which
        # measured ~20 % faster on 2 cores than both using every core (no oversubscribed spinning).
        torch.set_num_threads(max(1, self.options.threads - 1))
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> Path:
        signature = self.options.signature()
        if self.options.skip_existing:
            self._check_resume(self.gt, signature)
        performer = make_performer(self.model, self.options.seed, STAGE_STREAM, self.options.frames, self.camera,
                                   self.options.fps, self.options.shadow_resolution)
        record = performance_record(performer, self.camera, self.frames, self.options.seed, STAGE_STREAM)
        record["options"] = signature
        record["dome"] = {"directions": self.dome.directions.tolist(), "rgb": self.dome.rgb.tolist(),
                          "solid_angle": self.dome.solid_angle}
        record["relight"] = None if self.options.relight is None else str(Path(self.options.relight).resolve())
        write_params(self.gt, record)
        readme = f"{__doc__}\nOptical flow\n------------\n{flow_module.__doc__}"
        write_bytes_atomic(self.gt / "README.txt", readme.encode())
        with ImageWriter(self.options.threads) as writer:
            self._render_stage(performer, writer)
            if self.options.source_video:
                self._render_source(writer)
        path = write_capture_yaml(self.out, self.frames, self.dome.directions, self.dome.rgb, OLAT_PATTERN,
                                  TRACKING_PATTERN, MATTE_PATTERN, focal_px=float(self.camera.K[0, 0]),
                                  extra={"synthetic": {"format": FORMAT, "seed": self.options.seed,
                                                       "ground_truth": GROUND_TRUTH}})
        if self.options.contact_sheet:
            write_contact_sheet(self.out)
        return path

    def _render_stage(self, performer: Performer, writer: ImageWriter) -> None:
        renderer = performer.renderer
        uniform = torch.from_numpy(self.dome.uniform_weights()).float()
        previous: tuple[torch.Tensor, FrameSurface] | None = None
        bar = tqdm(total=len(self.frames), desc="synth stage", unit="frame", disable=not self.options.progress)
        for index, frame in enumerate(self.frames):
            vertices = performer.vertices(index)
            surface = renderer.surface(vertices)
            if previous is not None:  # flows between the previous frame and this one
                prev_vertices, prev_surface = previous
                writer.exr(self.gt / GT_PATTERNS["flow_forward"].format(frame=frame - 1),
                           surface_flow(self.camera, prev_surface.gbuffer, renderer.submesh.triangles, vertices,
                                        surface.gbuffer).numpy(), "float")
                writer.exr(self.gt / GT_PATTERNS["flow_backward"].format(frame=frame),
                           surface_flow(self.camera, surface.gbuffer, renderer.submesh.triangles, prev_vertices,
                                        prev_surface.gbuffer).numpy(), "float")
            else:
                writer.exr(self.gt / GT_PATTERNS["flow_backward"].format(frame=frame), _no_flow(surface), "float")
            previous = (vertices, surface)
            if not (self.options.skip_existing and all(p.is_file() for p in self._frame_paths(frame, index))):
                self._write_frame(renderer, surface, frame, index, uniform, writer)
            bar.update(1)
        writer.exr(self.gt / GT_PATTERNS["flow_forward"].format(frame=self.frames[-1]), _no_flow(previous[1]), "float")
        bar.close()

    def _write_frame(self, renderer: StageRenderer, surface: FrameSurface, frame: int, index: int,
                     uniform: torch.Tensor, writer: ImageWriter) -> None:
        tracking = torch.zeros(len(surface.pixels), 3)
        start = 0
        for chunk in renderer.radiance(surface, self.dome.directions, self.dome.rgb):
            tracking += torch.einsum("lpc,lc->pc", chunk, uniform[start:start + len(chunk)])
            images = _rgba(surface, chunk)
            for offset, image in enumerate(images):
                writer.exr(self.out / OLAT_PATTERN.format(light=start + offset, frame=frame), image)
            start += len(chunk)
        writer.exr(self.out / TRACKING_PATTERN.format(frame=frame), _rgba(surface, tracking))
        mask = surface.gbuffer.mask.to(torch.float16).numpy()
        writer.exr(self.out / MATTE_PATTERN.format(frame=frame), np.repeat(mask[..., None], 4, axis=2))
        writer.labels(self.gt / GT_PATTERNS["segmentation"].format(frame=frame), _labels(renderer, surface))
        writer.exr(self.gt / GT_PATTERNS["albedo"].format(frame=frame), _rgba(surface, surface.material.albedo))
        writer.exr(self.gt / GT_PATTERNS["normal"].format(frame=frame), _rgba(surface, surface.normal))
        uv = surface.gbuffer.uv.reshape(-1, 2)[surface.pixels]
        writer.exr(self.gt / GT_PATTERNS["uv"].format(frame=frame),
                   _rgba(surface, torch.cat([uv, torch.zeros(len(uv), 1)], dim=1), torch.float32), "float")
        if self._relit_frame(index):
            relit = renderer.total_radiance(surface, self.relight.directions, self.relight.irradiance)
            writer.exr(self.gt / RELIT_PATTERN.format(frame=frame), _rgba(surface, relit))

    def _source_lighting(self) -> tuple[DirectionalSamples, dict]:
        """The source video's light and its record for params.json.

        Built in: SOURCE_LIGHTS plus SOURCE_AMBIENT through the dome's directions. A lights file
        (``source_lights``) is rendered as :func:`direct_samples` gives it, times an exposure that gives a
        grey card facing the source camera the built-in light's irradiance (a camera's auto exposure), so
        any HDRI makes a usable video.
        """
        directions = np.concatenate([np.asarray([d for d, _ in SOURCE_LIGHTS]), self.dome.directions])
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        irradiance = np.concatenate([np.asarray([e for _, e in SOURCE_LIGHTS]),
                                     np.full((self.dome.light_count, 3), SOURCE_AMBIENT * self.dome.solid_angle)])
        built_in = DirectionalSamples(directions, irradiance)
        if self.options.source_lights is None:
            return built_in, {"lighting": [{"type": "sun", "direction": list(d), "rgb": list(e)}
                                           for d, e in SOURCE_LIGHTS] + [{"type": "uniform", "radiance": SOURCE_AMBIENT}]}
        samples = direct_samples(load_lights(self.options.source_lights), self.options.relight_directions)
        facing = self.source_camera.position.double().numpy()
        facing /= np.linalg.norm(facing)  # the subject sits at the origin
        card = _card_irradiance(samples, facing)
        if not card > 0.0:
            raise InputError(self.options.source_lights, "sends no light towards the source camera")
        exposure = _card_irradiance(built_in, facing) / card
        record = {"lighting": {"lights_file": str(Path(self.options.source_lights).resolve()), "exposure": exposure}}
        return DirectionalSamples(samples.directions, samples.irradiance * exposure), record

    def _render_source(self, writer: ImageWriter) -> None:
        camera = self.source_camera
        performer = make_performer(self.model, self.options.seed, SOURCE_STREAM, self.options.frames, camera,
                                   self.options.fps, self.options.shadow_resolution)
        folder = self.out / SOURCE
        write_params(folder, performance_record(performer, camera, self.frames, self.options.seed, SOURCE_STREAM)
                     | self.source_record)
        directions, irradiance = self.source_light.directions, self.source_light.irradiance
        for index, frame in enumerate(tqdm(self.frames, desc="synth source", unit="frame",
                                           disable=not self.options.progress)):
            linear_path = folder / SOURCE_PATTERNS["linear"].format(frame=frame)
            png_path = folder / SOURCE_PATTERNS["frames"].format(frame=frame)
            if self.options.skip_existing and linear_path.is_file() and png_path.is_file():
                continue
            surface = performer.renderer.surface(performer.vertices(index))
            image = _rgba(surface, performer.renderer.total_radiance(surface, directions, irradiance))
            writer.exr(linear_path, image)
            writer.srgb(png_path, image[..., :3].astype(np.float32))


def _card_irradiance(light: DirectionalSamples, normal: np.ndarray) -> float:
    """Luminance of the irradiance on a card facing ``normal`` (W/m^2)."""
    cosine = np.clip(light.directions @ normal, 0.0, None)
    return float((cosine @ light.irradiance) @ REC709_LUMA)


def _no_flow(surface: FrameSurface) -> np.ndarray:
    """Flow of a frame with no neighbour on that side: zero motion, nothing valid, the mask in A."""
    flow = np.zeros((surface.height, surface.width, 4), dtype=np.float32)
    flow[..., 3] = surface.gbuffer.mask.numpy()
    return flow


@lru_cache(maxsize=2)
def _load_model(path: Path | None) -> FaceModel:
    """The face model, loaded once per process and path (the stage never modifies it)."""
    return FaceModel.load(path)


def generate(options: SynthOptions) -> Path:
    """Run :class:`StageJob` for ``options``; returns the capture.yaml written."""
    return StageJob(options).run()
