"""Pipeline stages, one module each; importing this package registers them in pipeline order."""
from . import data  # noqa: F401  (registers `data`)
from . import evaluate  # noqa: F401  (registers `eval`, always last)
