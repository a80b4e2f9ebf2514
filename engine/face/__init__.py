"""The ICT morphable face model (identity + expression -> mesh), landmarks and region labels."""

from engine.face.model import REGIONS, FaceModel, Submesh, default_model_path

__all__ = ["REGIONS", "FaceModel", "Submesh", "default_model_path"]
