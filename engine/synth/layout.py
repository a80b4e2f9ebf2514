"""Where a synthetic capture keeps its files (the folder ``engine.synth.generate`` writes, documented there):
the capture's own patterns and the ground truth beside them. Format patterns take ``frame`` (and ``light``)."""

OLAT_PATTERN = "olat/L{light:03d}/frame.{frame:04d}.exr"
TRACKING_PATTERN = "tracking/frame.{frame:04d}.exr"
MATTE_PATTERN = "matte/frame.{frame:04d}.exr"
GROUND_TRUTH = "ground_truth"
GT_PATTERNS = {
    "segmentation": "segmentation/frame.{frame:04d}.png",
    "albedo": "albedo/frame.{frame:04d}.exr",
    "normal": "normal/frame.{frame:04d}.exr",
    "uv": "uv/frame.{frame:04d}.exr",
    "flow_forward": "flow_forward/frame.{frame:04d}.exr",
    "flow_backward": "flow_backward/frame.{frame:04d}.exr",
}
RELIT_PATTERN = "relit/frame.{frame:04d}.exr"
SOURCE = "source"
SOURCE_PATTERNS = {"frames": "frames/frame.{frame:04d}.png", "linear": "linear/frame.{frame:04d}.exr"}
PARAMS_FILE = "params.json"
FORMAT = "relume-synth/1"
