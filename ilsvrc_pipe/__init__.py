"""ilsvrc_pipe: the ILSVRC 2015 ResNet localization and detection pipeline, end to end."""
from .utils.openmp_env import apply_openmp_defaults

# Before anything imports torch: libgomp reads its wait policy once, at load (see openmp_env).
apply_openmp_defaults()

__version__ = "0.1.0"
