"""The face model's segmentation labels (torch-free: settings and the command line read them without the model)."""

# In label order (0 = background, where no triangle covers a pixel).
REGIONS = ("background", "skin", "eyes", "mouth_interior", "hair_back_head")
