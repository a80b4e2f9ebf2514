"""The light stage: capture folders, their calibration, and the decoded OLAT cache."""
