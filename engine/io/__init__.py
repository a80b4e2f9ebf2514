"""Image and file I/O: EXR through OpenImageIO, atomic writes, previews."""
