"""The ICT face model in torch: shapes, units, landmarks that follow expressions, gradients, regions,
and the error an artist sees when the model file is missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.face.model import MODEL_ENV, TRANSPARENT_MATERIALS, FaceModel, default_model_path
from engine.face.regions import REGIONS

# 68-point (Multi-PIE) indices: chin tip, lower-lip bottom, the subject's right/left upper eyelids.
CHIN, LOWER_LIP = 8, 57
UPPER_LID_SUBJECT_RIGHT, UPPER_LID_SUBJECT_LEFT = (37, 38), (43, 44)


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load()


def _expression(model: FaceModel, **weights: float) -> torch.Tensor:
    value = torch.zeros(1, model.expression_count)
    for name, weight in weights.items():
        value[0, model.expression_index(name)] = weight
    return value


def test_shapes_and_names(model: FaceModel) -> None:
    assert (model.vertex_count, model.identity_count, model.expression_count) == (26719, 100, 53)
    assert model.triangles.shape == (52220, 3) and model.triangles.dtype == torch.long
    assert int(model.triangles.max()) < model.vertex_count and int(model.triangles.min()) >= 0
    assert model.triangle_uv_ids.shape == model.triangles.shape and int(model.triangle_uv_ids.max()) < len(model.uvs)
    assert model.triangle_material.shape == model.triangle_region.shape == (52220,)
    assert len(model.material_names) == 12 and "jawOpen" in model.expression_names
    verts = model.vertices(torch.randn(3, 100), torch.rand(3, 53))
    assert verts.shape == (3, 26719, 3) and verts.dtype == torch.float32
    assert model.landmarks(verts).shape == (3, 68, 3)
    # Fewer modes than the model has, unbatched weights, and no weights at all are all accepted.
    assert model.vertices(torch.randn(10)).shape == (1, 26719, 3)
    assert torch.equal(model.vertices()[0], model.neutral)
    with pytest.raises(ValueError):
        model.vertices(torch.zeros(1, 101))


def test_metres_engine_frame(model: FaceModel) -> None:
    with np.load(model.source) as npz:
        centimetres = npz["neutral_vertices"]
    assert torch.allclose(model.neutral, torch.from_numpy(centimetres) * 0.01)
    verts = model.vertices()[0]
    height = float(verts[:, 1].max() - verts[:, 1].min())
    width = float(verts[:, 0].max() - verts[:, 0].min())
    assert 0.25 < height < 0.45 and 0.15 < width < 0.35  # a head and neck, in metres
    lm = model.landmarks(verts)
    nose_tip, chin, brow = lm[30], lm[CHIN], lm[27]
    assert float(nose_tip[2]) > float(lm[0][2]) + 0.05  # the nose points +Z, ahead of the jaw line
    assert float(brow[1]) > float(nose_tip[1]) > float(chin[1])  # Y up


def test_expressions_move_landmarks(model: FaceModel) -> None:
    neutral = model.landmarks(model.vertices())[0]
    opened = model.landmarks(model.vertices(expression=_expression(model, jawOpen=1.0)))[0]
    assert float(neutral[CHIN, 1] - opened[CHIN, 1]) > 0.01  # chin drops more than 1 cm
    assert float(neutral[LOWER_LIP, 1] - opened[LOWER_LIP, 1]) > 0.01
    assert float((opened[17:27] - neutral[17:27]).norm(dim=1).max()) < 1e-3  # brows stay put
    # _L is the subject's left, on +X (the face looks +Z, Y up); eyeBlink_L closes only that eye.
    left, right = list(UPPER_LID_SUBJECT_LEFT), list(UPPER_LID_SUBJECT_RIGHT)
    assert float(neutral[left, 0].min()) > 0 > float(neutral[right, 0].max())
    blink = model.landmarks(model.vertices(expression=_expression(model, eyeBlink_L=1.0)))[0]
    assert float((neutral[left, 1] - blink[left, 1]).min()) > 0.005
    assert float((neutral[right, 1] - blink[right, 1]).abs().max()) < 1e-3


def test_identity_changes_shape_not_topology(model: FaceModel) -> None:
    torch.manual_seed(0)
    people = model.vertices(torch.randn(4, 100))
    spread = (people - people.mean(dim=0)).norm(dim=-1).mean()
    assert 1e-3 < float(spread) < 0.02  # millimetres to a centimetre or two between plausible people


def test_gradients_reach_weights(model: FaceModel) -> None:
    identity = torch.zeros(2, 100, requires_grad=True)
    expression = torch.full((2, 53), 0.2, requires_grad=True)
    landmarks = model.landmarks(model.vertices(identity, expression))
    landmarks[..., 1].sum().backward()
    assert identity.grad is not None and float(identity.grad.abs().sum()) > 0
    jaw = model.expression_index("jawOpen")
    assert float(expression.grad[0, jaw]) < 0  # opening the jaw lowers the landmarks
    # The model is linear: the gradient equals the blendshape's landmark Y offsets, summed.
    delta = model.expression_basis[jaw].reshape(-1, 3)[model.landmark_ids, 1].sum()
    assert torch.allclose(expression.grad[0, jaw], delta, rtol=1e-4)


def test_regions_and_submesh(model: FaceModel) -> None:
    assert model.REGIONS == REGIONS and REGIONS[0] == "background"
    counts = torch.bincount(model.triangle_region, minlength=len(REGIONS))
    assert counts[0] == 0 and bool((counts[1:] > 100).all())
    names = model.material_names
    region_of = dict(zip(names, [None] * len(names)))
    for material in range(len(names)):
        region_of[names[material]] = set(model.triangle_region[model.triangle_material == material].tolist())
    assert region_of["M_Teeth"] == {REGIONS.index("mouth_interior")}
    assert region_of["M_IrisLeft"] == {REGIONS.index("eyes")}
    assert region_of["M_Face"] == {REGIONS.index("skin")}
    assert REGIONS.index("hair_back_head") in region_of["M_BackHead"]
    opaque = model.submesh("face_and_head")
    kept = {names[m] for m in opaque.triangle_material.unique().tolist()}
    assert kept.isdisjoint(TRANSPARENT_MATERIALS) and "M_Face" in kept and "M_Teeth" in kept
    assert torch.equal(model.triangles[opaque.triangle_index], opaque.triangles)
    assert len(model.submesh("full").triangles) == len(model.triangles)
    with pytest.raises(ValueError):
        model.submesh("eyes_only")


def test_to_device_keeps_values(model: FaceModel) -> None:
    moved = FaceModel.load(model.source).to("cpu")
    assert moved.device.type == "cpu" and torch.equal(moved.vertices(), model.vertices())


def test_missing_model_names_where_to_get_it(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "nowhere" / "ict_face_model.npz"
    with pytest.raises(InputError) as error:
        FaceModel.load(missing)
    message = str(error.value)
    assert message.startswith(str(missing)) and "install.py" in message and "ICT-FaceKit" in message
    monkeypatch.setenv(MODEL_ENV, str(missing))
    assert default_model_path() == missing
    with pytest.raises(InputError):
        FaceModel.load()


def test_wrong_file_is_an_input_error(tmp_path) -> None:
    bogus = tmp_path / "ict_face_model.npz"
    np.savez(bogus, neutral_vertices=np.zeros((3, 3), np.float32))
    with pytest.raises(InputError, match="missing"):
        FaceModel.load(bogus)
    garbage = tmp_path / "garbage.npz"
    for content in (b"not a zip", bogus.read_bytes()[:200]):  # garbage, and a truncated npz
        garbage.write_bytes(content)
        with pytest.raises(InputError, match="cannot read"):
            FaceModel.load(garbage)


def test_default_path_order(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("RELUME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RELUME_SHARED", str(tmp_path / "shared"))
    installed = tmp_path / "home" / "assets" / "ict_face_model" / "ict_face_model.npz"
    mirror = tmp_path / "shared" / "assets" / "ict_face_model" / "ict_face_model.npz"
    assert default_model_path() == installed  # nothing anywhere: the error names the installer's place
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(b"")
    assert default_model_path() == mirror
    installed.parent.mkdir(parents=True)
    installed.write_bytes(b"")
    assert default_model_path() == installed
