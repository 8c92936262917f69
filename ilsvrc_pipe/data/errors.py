"""Errors raised for bad input files: each names the file (and line) and what was expected."""


class DataFormatError(ValueError):
    """A data or submission file does not have the expected form."""


class ImageDecodeError(DataFormatError):
    """An image file is truncated, corrupt or of an unknown format."""
