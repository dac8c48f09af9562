"""The version of glassnet, in a leaf of its own so that any module may read it (``glassnet.__version__``)."""

VERSION = "0.4.0"
