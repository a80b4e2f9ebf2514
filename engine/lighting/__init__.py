"""Lighting: lights files, HDRI environments, and their integration into stage-light weights."""
