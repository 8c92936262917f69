"""ilsvrc_pipe: the ILSVRC 2015 ResNet localization and detection pipeline, end to end."""

__version__ = "0.1.0"
