"""The reenactment network: training (deterministic, resumable, NaN stop, DDP), reenact, export, bad input.

All on a tiny synthetic target (128 px, 12 stage lights, 8 frames) tracked with ``relume track``; training
runs a handful of steps on 64 px crops, so these tests check the machinery, not the quality (that is
``benchmarks/reenact.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from engine.errors import InputError
from engine.io.exr import read_image, write_image
from engine.reenact.model_dir import CHECKPOINT_FILE, CONFIG_FILE, INT8_FILE, TrainedModel
from engine.reenact.settings import TEMPORAL_SMOOTHING
from engine.reenact.train import TrainingError, train
from engine.stage.capture import Capture
from engine.synth.generate import SynthOptions, generate
from support.small_reenact import SETTINGS, torchrun_train, train_command

REPO = Path(__file__).resolve().parents[2]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / CHECKPOINT_FILE, weights_only=False)["model"]


@pytest.mark.slow
def test_training_is_deterministic_and_resume_continues_exactly(small_target: dict, small_model: Path,
                                                                tmp_path: Path) -> None:
    again = tmp_path / "again"
    train(small_target["capture"], small_target["target"], again, SETTINGS, progress=False)
    halves = tmp_path / "halves"
    train(small_target["capture"], small_target["target"], halves, replace(SETTINGS, steps=2), progress=False)
    train(small_target["capture"], small_target["target"], halves, SETTINGS, resume=True, progress=False)
    reference = _weights(small_model)
    for other in (again, halves):
        for name, value in _weights(other).items():
            assert torch.equal(value, reference[name]), name
    log = (small_model / "losses.csv").read_text().splitlines()
    assert log[0].startswith("step,total,olat,relit") and len(log) == 1 + SETTINGS.steps
    config = json.loads((small_model / "config.json").read_text())
    assert len(config["stage"]["directions"]) == 12 and config["image_size"] == [128, 128]


@pytest.mark.slow
def test_stacks_above_the_memory_budget_stream_from_a_file_and_train_the_same(small_target: dict,
                                                                              small_model: Path,
                                                                              tmp_path: Path) -> None:
    from engine.face.model import FaceModel
    from engine.reenact.data import load_training_set

    face = FaceModel.load(None)
    held = load_training_set(face, small_target["capture"], small_target["target"])
    streamed = load_training_set(face, small_target["capture"], small_target["target"],
                                 stream_path=tmp_path / "stacks.npy", memory_bytes=0)
    assert isinstance(streamed.stacks, np.memmap) and not isinstance(held.stacks, np.memmap)
    assert np.array_equal(streamed.stacks, held.stacks) and np.array_equal(streamed.alpha, held.alpha)
    streamed.release()
    assert not (tmp_path / "stacks.npy").exists()
    out = tmp_path / "streamed"
    train(small_target["capture"], small_target["target"], out, SETTINGS, progress=False, memory_bytes=0)
    reference = _weights(small_model)
    assert all(torch.equal(value, reference[name]) for name, value in _weights(out).items())
    assert not list(out.glob("training_stacks*"))          # the scratch file goes when training ends


@pytest.mark.slow
def test_the_own_prediction_is_trained_even_where_the_blend_keeps_the_past(small_target: dict, tmp_path: Path) -> None:
    """With the learned blend weight m near 0 the blended output hardly depends on frame t's own prediction;
    the OLAT term judges the own prediction too, so the appearance branch still gets its gradient."""
    from engine.face.model import FaceModel
    from engine.reenact.data import load_training_set
    from engine.reenact.settings import LossWeights
    from engine.reenact.train import Trainer

    face = FaceModel.load(None)
    data = load_training_set(face, small_target["capture"], small_target["target"])
    only_olat = LossWeights(olat=1.0, relit=0.0, segmentation=0.0, alpha=0.0, flow=0.0, temporal=0.0)
    trainer = Trainer(data, tmp_path / "m", replace(SETTINGS, batch=4, losses=only_olat), face.source,
                      small_target["target"], progress=False)
    with torch.no_grad():
        trainer.net.motion.head.bias[-1] = -30.0                       # blend channel: m = sigmoid(-30) ~ 1e-13
    rng = np.random.default_rng(3)
    batch = trainer._batch(rng)
    batch["has_prev"][:] = 1.0                                          # every sample blends with its frame t-1
    trainer.losses(batch, rng)["olat"].backward()
    rank3 = 3 * SETTINGS.network.rank
    gradient = trainer.net.appearance.head.weight.grad[:rank3]          # the coefficients' output layer
    assert float(gradient.abs().max()) > 1e-3


@pytest.mark.slow
def test_existing_model_needs_resume_and_corrupt_checkpoint_is_refused(small_target: dict, small_model: Path,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--resume"):
        train(small_target["capture"], small_target["target"], small_model, SETTINGS, progress=False)
    broken = Path(shutil.copytree(small_model, tmp_path / "broken"))
    data = (broken / CHECKPOINT_FILE).read_bytes()
    (broken / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated checkpoint"):
        TrainedModel.load(broken)
    with pytest.raises(InputError, match="corrupt or truncated checkpoint"):
        train(small_target["capture"], small_target["target"], broken, SETTINGS, resume=True, progress=False)
    earlier = Path(shutil.copytree(small_model, tmp_path / "earlier"))
    config = json.loads((earlier / CONFIG_FILE).read_text())
    (earlier / CONFIG_FILE).write_text(json.dumps(config | {"version": 3}))    # SPADE in the motion branch
    with pytest.raises(InputError, match=r"earlier Relume \(model format version 3, this one reads 4"):
        TrainedModel.load(earlier)


@pytest.mark.slow
def test_a_loss_that_turns_nan_stops_and_keeps_the_last_checkpoint(small_target: dict, tmp_path: Path) -> None:
    out = tmp_path / "nan"
    settings = replace(SETTINGS, steps=40, checkpoint_every=1, learning_rate=1e12)
    with pytest.raises(TrainingError, match="the loss became nan") as stop:
        train(small_target["capture"], small_target["target"], out, settings, progress=False)
    kept = torch.load(out / CHECKPOINT_FILE, weights_only=False)
    assert 0 < kept["step"] < 40 and f"(step {kept['step']})" in str(stop.value)
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())


@pytest.mark.slow
def test_reenact_writes_a_capture_that_relight_reads_and_resumes(small_target: dict, small_model: Path, tmp_path: Path,
                                                                cli) -> None:
    out = tmp_path / "reenacted"
    result = cli("reenact", small_model, "--track", small_target["result"], "--out", out)
    assert result.returncode == 0, result.stderr
    capture = Capture.load(out)
    source = json.loads(small_target["result"].read_text())
    assert capture.frames == sorted(int(f) for f in source["frames"]) and capture.light_count == 12
    assert np.allclose(capture.directions, Capture.load(small_target["capture"]).directions)
    first = capture.olat_path(3, capture.frames[0])
    stamp = first.stat().st_mtime_ns
    redone = capture.olat_path(3, 1004)
    before = read_image(redone).rgb.copy()
    (out / "matte/frame.1004.exr").unlink()
    redone.unlink()
    result = cli("reenact", small_model, "--track", small_target["result"], "--out", out, "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert first.stat().st_mtime_ns == stamp and (out / "matte/frame.1004.exr").is_file()
    assert np.array_equal(read_image(redone).rgb, before)   # the recurrent chain re-ran the frames before it
    env = tmp_path / "white.exr"

    write_image(env, np.ones((16, 32, 3), np.float32), "float")
    result = cli("relight", out, "--env", env, "--out", tmp_path / "relit/frame.####.exr")
    assert result.returncode == 0, result.stderr
    written = {}
    for precision, extra in (("int8", ()), ("float32", ("--precision", "float32")), ("float32", ("--runtime", "torch"))):
        if extra:
            out = tmp_path / "_".join(extra)
            result = cli("reenact", small_model, "--track", small_target["result"], "--out", out, *extra)
            assert result.returncode == 0, result.stderr
        assert Capture.load(out).extra["reenacted"]["precision"] == precision      # on the CPU the default is int8
        written[extra[-1] if extra else "default"] = read_image(out / "olat/L005/frame.1002.exr").rgb.astype(np.float32)
    a, b = written["float32"], written["torch"]
    assert np.abs(a - b).max() <= 2e-3 * max(1.0, float(np.abs(b).max()))   # half-float rounding
    by_hand = _recurrent_olat(small_model, small_target["result"], 1, 5, TEMPORAL_SMOOTHING)   # the default
    assert np.abs(b - by_hand).max() <= 2e-3 * max(1.0, b.max())
    int8_error = np.abs(written["default"] - a).max() / a.max()
    assert 0 < int8_error < INT8_TOLERANCE


@pytest.mark.slow
def test_temporal_smoothing_scales_the_learned_blend_and_is_checked(small_target: dict, small_model: Path,
                                                                  tmp_path: Path, cli) -> None:
    written = {}
    for smoothing in (0.0, 0.75):
        out = tmp_path / f"smoothing_{smoothing:g}"
        result = cli("reenact", small_model, "--track", small_target["result"], "--out", out, "--runtime", "torch",
                     "--temporal-smoothing", smoothing)
        assert result.returncode == 0, result.stderr
        assert Capture.load(out).extra["reenacted"]["temporal_smoothing"] == smoothing   # recorded
        written[smoothing] = read_image(out / "olat/L005/frame.1003.exr").rgb.astype(np.float32)
        expected = _recurrent_olat(small_model, small_target["result"], 2, 5, smoothing)
        half_float = 1e-3 * float(expected.max())             # the EXR's rounding (2^-11 relative), with room
        assert np.abs(written[smoothing] - expected).max() <= half_float, smoothing
    assert np.abs(written[0.0] - written[0.75]).max() > 20 * half_float     # frame 1003 does depend on it
    for bad in ("1", "-0.1"):
        result = cli("reenact", small_model, "--track", small_target["result"], "--out", tmp_path / "bad",
                     "--temporal-smoothing", bad)
        assert result.returncode == 2 and not (tmp_path / "bad").exists()
        assert result.stderr.strip().endswith(f"--temporal-smoothing: must be at least 0 and below 1, not {float(bad):g}")


@pytest.mark.parametrize("history", [0, 1, 2, 3])
def test_a_streamed_history_window_gives_the_inputs_of_the_whole_sequence(history: int) -> None:
    """relume reenact streams the conditioning (HistoryWindow over iter_conditions); training and calibration hold
    all frames (Conditions.history): both must give frame t the same frames t-k..t, the first repeated before it."""
    from engine.reenact.conditioning import Conditions, HistoryWindow

    channels = np.random.default_rng(history).random((6, 2, 3, 4)).astype(np.float32)
    whole = Conditions(list(range(6)), channels, np.zeros((6, 3, 4), np.int64), np.zeros((6, 3, 3, 4), np.float32))
    window = HistoryWindow(history)
    for index, frame in enumerate(channels):
        window.push(frame)
        assert len(window.recent) <= history + 1                          # never more than it needs
        assert np.array_equal(window.input(), whole.history(index, history)), index
    assert np.array_equal(window.input()[:2], channels[5 - history])    # oldest first


def test_decoded_olats_and_tracking_frame_match_the_light_basis_sum() -> None:
    """Each OLAT is basis[l] . coefficients per pixel and channel, clipped at 0, times the matte; the tracking
    frame is the sum of the OLATs (every light on), with the matte as alpha. The network's matte is clipped at
    1 % and 99 % and stretched between, so a sigmoid's background is exactly 0 (black OLATs) and its inside 1."""
    from engine.reenact.reenact import decode_olats

    rng = np.random.default_rng(3)
    basis, coefficients = rng.normal(size=(7, 4)), rng.normal(size=(3, 4, 5, 6)).astype(np.float32)
    alpha = rng.random((5, 6)).astype(np.float32)
    alpha[0, :3] = [0.002, 0.0099, 0.995]              # a sigmoid's background and inside
    matte = np.clip((alpha - 0.01) / 0.98, 0, 1)
    expected = np.maximum(np.einsum("lr,crhw->lhwc", basis, coefficients), 0) * matte[None, ..., None]
    decoded = decode_olats(basis, coefficients, alpha)
    assert decoded.olats.dtype == np.float16 and decoded.olats.shape == (7, 5, 6, 4)
    np.testing.assert_allclose(decoded.olats[..., :3], expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(decoded.olats[..., 3], np.broadcast_to(matte, (7, 5, 6)), atol=1e-3)
    assert not decoded.olats[:, 0, :2].any() and (decoded.olats[:, 0, 2, 3] == 1).all()
    np.testing.assert_allclose(decoded.tracking[..., :3], expected.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(decoded.tracking[..., 3], matte, atol=1e-6)


def _recurrent_olat(model: Path, track: Path, index: int, light: int, smoothing: float) -> np.ndarray:
    """Frame ``index``'s OLAT of ``light`` from the network by hand: frame 0 its own output, each later frame
    blended with the one before, the learned blend weight times ``1 - smoothing``, the one before warped by the
    fitted meshes' motion where they cover the pixel in both frames and by the predicted flow elsewhere (what
    reenact must write for a recurrent network)."""
    from engine.face.model import FaceModel
    from engine.reenact.conditioning import render_conditions
    from engine.reenact.network import blend_previous, split_outputs
    from engine.reenact.reenact import decode_olats
    from engine.track.track_file import frame_numbers, read_track

    trained = TrainedModel.load(model)
    config = trained.net.config
    assert config.recurrent
    face = FaceModel.load(None)
    track = read_track(track, face.source)
    conditions = render_conditions(face, track, frame_numbers(track))
    previous = None
    with torch.no_grad():
        for i in range(index + 1):
            out = split_outputs(trained.net(torch.from_numpy(conditions.history(i, config.history)[None])), config.rank)
            own = out["coefficients"]
            blend = (1.0 - smoothing) * out["blend"]
            mesh = torch.from_numpy(conditions.flow[i][None])
            flow = torch.where(mesh[:, 2:3] > 0.5, mesh[:, :2], out["flow"])
            previous = own if previous is None else blend_previous(own, blend, flow, previous)
    decoded = decode_olats(trained.basis, previous[0].numpy(), out["alpha"][0, 0].numpy())
    return decoded.olats[light, ..., :3].astype(np.float32)


@pytest.mark.slow
def test_onnx_matches_torch_and_torchscript_is_one_tensor_in_one_out(small_model: Path, tmp_path: Path, cli) -> None:
    model = TrainedModel.load(small_model)
    x = torch.from_numpy(np.random.default_rng(0).random((1, model.net.config.in_channels, 128, 128),
                                                         dtype=np.float32))
    with torch.no_grad():
        expected = model.net(x).numpy()
    session = onnxruntime.InferenceSession(str(small_model / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"conditions": x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4
    result = cli("export", small_model, "--format", "torchscript", "--out", tmp_path / "reenact.pt")
    assert result.returncode == 0, result.stderr
    scripted = torch.jit.load(str(tmp_path / "reenact.pt"))
    assert len(list(scripted.graph.inputs())) == 2           # self and the one input tensor
    out = scripted(x)
    assert isinstance(out, torch.Tensor) and out.shape == (1, model.net.config.out_channels, 128, 128)
    assert torch.allclose(out, torch.from_numpy(expected), atol=1e-5)


# The int8 model against the float32 one on the tiny network, light 5 of frame 1002, relative to its brightest
# value (4 training steps; measured when set, 2026-12-06: 0.040, and at most 0.086 over every light and frame;
# 0.029 with the clean matte and the blend along the fitted meshes, later that day):
# a guard against a broken quantisation. The real measure is the benchmark's table (README, *Quality on known
# truth*; docs/reenactment-log.md, the seventeenth run: within 0.07 dB and the same flicker as the float32
# model on the three captures).
INT8_TOLERANCE = 0.1


@pytest.mark.slow
def test_int8_model_keeps_the_full_resolution_path_in_float32_and_is_rebuilt_the_same(
        small_target: dict, small_model: Path, tmp_path: Path, cli) -> None:
    import onnx
    import onnx.numpy_helper

    graph = onnx.load(str(small_model / INT8_FILE)).graph
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    quantized = {node.name: made_by.get(node.input[1]) == "DequantizeLinear" for node in graph.node
                 if node.op_type == "Conv"}
    kept = {name for name, is_int8 in quantized.items() if not is_int8}
    # the tiny network has two levels: down.0 and up.1 run at full resolution
    full_resolution = {f"/appearance/{block}/conv{i}/Conv" for block in ("down.0", "up.1") for i in (1, 2)}
    motion = {name for name in quantized if name.startswith("/motion/")}
    assert len(motion) == 5 * 2 + 1 and kept == full_resolution | motion | {"/appearance/head/Conv"}
    assert all(quantized[f"/appearance/{block}/norm1/{conv}/Conv"] for block in ("down.0", "middle", "up.1")
               for conv in ("shared/shared.0", "gamma", "beta"))
    assert quantized["/appearance/down.1/conv1/Conv"] and quantized["/appearance/middle/conv2/Conv"]
    weights = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in graph.initializer}
    dequantized = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    int8_weights = [weights[dequantized[node.input[1]]] for node in graph.node
                    if node.op_type == "Conv" and quantized[node.name]]
    # 7-bit weights: where onnxruntime sums u8 x s8 products in pairs into 16 bits (x86 without VNNI), two of
    # them stay within 2 * 255 * 64 = 32640 < 32767
    assert all(w.dtype == np.int8 and np.abs(w).max() <= 64 for w in int8_weights)

    copy = Path(shutil.copytree(small_model, tmp_path / "copy"))
    (copy / INT8_FILE).unlink()                      # a folder from before the int8 model: rebuilt on demand
    result = cli("export", copy, "--format", "onnx", "--precision", "int8", "--out", tmp_path / "int8.onnx")
    assert result.returncode == 0, result.stderr
    x = np.random.default_rng(1).random((1, TrainedModel.load(copy).net.config.in_channels, 128, 128), dtype=np.float32)
    outputs = [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"conditions": x})[0]
               for path in (small_model / INT8_FILE, copy / INT8_FILE, tmp_path / "int8.onnx")]
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[0], outputs[2])   # the same calibration

    config = json.loads((copy / CONFIG_FILE).read_text())
    (copy / CONFIG_FILE).write_text(json.dumps(config | {"track": str(tmp_path / "gone.track")}))
    (copy / INT8_FILE).unlink()
    result = cli("reenact", copy, "--track", small_target["result"], "--out", tmp_path / "r")
    assert result.returncode == 2 and "gone.track: missing: model.int8.onnx is calibrated" in result.stderr
    result = cli("reenact", copy, "--track", small_target["result"], "--out", tmp_path / "r", "--runtime", "torch",
                 "--precision", "int8")
    assert result.returncode == 2 and "--precision: int8 runs through onnxruntime" in result.stderr
    result = cli("export", copy, "--format", "torchscript", "--precision", "int8", "--out", tmp_path / "x.pt")
    assert result.returncode == 2 and "--precision: int8 is an ONNX model" in result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_bad_input_track_size_other_stage_and_frames(small_target: dict, small_model: Path, tmp_path: Path,
                                                     cli) -> None:
    track = json.loads(small_target["result"].read_text())
    track["image_size"] = [256, 256]
    (tmp_path / "big.track").write_text(json.dumps(track))
    result = cli("reenact", small_model, "--track", tmp_path / "big.track", "--out", tmp_path / "x")
    assert result.returncode == 2 and "big.track: image size 256x256 differs" in result.stderr
    other = tmp_path / "other"
    generate(SynthOptions(out=other, lights_count=6, frames=1, size=32, seed=1, progress=False))
    result = cli("reenact", small_model, "--track", small_target["result"], "--out", other)
    assert result.returncode == 2 and "another stage" in result.stderr
    short = json.loads(small_target["target"].read_text())
    short["frames"] = {k: v for k, v in short["frames"].items() if k != "1005"}
    (tmp_path / "short.track").write_text(json.dumps(short))
    result = cli("train", small_target["capture"], "--track", tmp_path / "short.track", "--out", tmp_path / "m",
                 "--rank", 4)
    assert result.returncode == 2 and "short.track: has no frame 1005" in result.stderr
    result = cli("train", small_target["capture"], "--track", small_target["target"], "--out", tmp_path / "m",
                 "--rank", 40)
    assert result.returncode == 2 and "--rank: 40 is more than the capture's 12 stage lights" in result.stderr
    result = cli("train", small_target["capture"], "--track", small_target["target"], "--out", tmp_path / "m",
                 "--temporal-weight", -1)
    assert result.returncode == 2 and "--temporal-weight: must be 0 or more" in result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "m" / CHECKPOINT_FILE).exists()


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_torchrun_trains_with_cpu_processes(small_target: dict, tmp_path: Path, processes: int) -> None:
    out = tmp_path / "ddp"
    result = torchrun_train(small_target, out, processes, 29533, "--steps", "3", "--temporal-weight", "0.25")
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(out / CHECKPOINT_FILE, weights_only=False)["step"] == 3
    assert json.loads((out / "config.json").read_text())["training"]["losses"]["temporal"] == 0.25
    assert len((out / "losses.csv").read_text().splitlines()) == 4      # rank 0 alone writes the log


# The quality bound CI can afford (the real comparison is benchmarks/reenact.py's table): the demo's chain on a
# 16-frame, 12-light, 128 px target (seed 5), 300 training steps, 4 held-out frames. Measured when set
# (2026-12-03): network 15.9 / 14.8 dB, average training frame 18.6 / 18.2 dB, nearest 19.6 / 19.1 dB. At this
# size the network is still below both baselines (the demo's held-out frames are close to its training
# ones), so the bound only guards against a broken chain or loss (the first benchmark runs' defects gave
# 5.9 dB), with about 2 dB of margin for other CPUs' arithmetic.
QUALITY_STEPS = 300
MIN_NETWORK_DB = 13.0


@pytest.mark.slow
def test_transfer_demo_runs_the_whole_chain_within_a_quality_bound(tmp_path: Path) -> None:
    from engine.demo_transfer import TransferDemoSettings, run_transfer_demo

    settings = TransferDemoSettings(size=128, lights=12, frames=16, held_out=4, steps=QUALITY_STEPS)
    result = run_transfer_demo(tmp_path, settings, progress=False)
    sheet = result.sheet
    import cv2

    image = cv2.imread(str(sheet))
    assert image.shape == (4 * 128, 3 * 128, 3) and image.std() > 5
    reenacted = Capture.load(tmp_path / "reenacted")
    assert reenacted.frames == sorted(int(f) for f in json.loads((tmp_path / "source.track").read_text())["frames"])
    assert len(list((tmp_path / "relit_env2").glob("frame.*.exr"))) == 3
    assert len(result.network_psnr) == len(result.nearest_psnr) == len(result.average_psnr) == 2
    assert all(score >= MIN_NETWORK_DB for score in result.network_psnr), result   # held out, both environments


@pytest.mark.slow
def test_ctrl_c_keeps_the_last_checkpoint_and_resume_continues(small_target: dict, tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "interrupted"
    command = [sys.executable, *train_command(small_target, out, "--steps", "500", "--checkpoint-every", "1")]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / CHECKPOINT_FILE).is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr
    step = torch.load(out / CHECKPOINT_FILE, weights_only=False)["step"]
    assert 0 < step < 500
    steps_at = command.index("--steps") + 1
    resumed = subprocess.run(command[:steps_at] + [str(step + 2)] + command[steps_at + 1:] + ["--resume"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(out / CHECKPOINT_FILE, weights_only=False)["step"] == step + 2
