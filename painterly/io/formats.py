"""Image file formats and size limits: plain constants, importable without torch (the CLI's help needs them)."""

#: Refuse inputs with more pixels than this (checked from the header, before decoding).
DEFAULT_MAX_PIXELS = 50_000_000

#: File suffixes :func:`painterly.io.images.find_images` picks up (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
