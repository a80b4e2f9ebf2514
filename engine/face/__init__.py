"""The ICT morphable face model (identity + expression -> mesh), landmarks and region labels: ``model`` (torch),
``regions`` (the labels alone, torch-free)."""
