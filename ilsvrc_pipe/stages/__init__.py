"""Pipeline stages, one module each; importing this package registers them in pipeline order."""
from . import data  # noqa: F401  (registers `data`)
from . import classify  # noqa: F401  (registers `cls`)
from . import rpn  # noqa: F401  (registers `rpn`)
from . import rcnn  # noqa: F401  (registers `rcnn`)
from . import localize  # noqa: F401  (registers `loc`)
from . import evaluate  # noqa: F401  (registers `eval`, always last)
