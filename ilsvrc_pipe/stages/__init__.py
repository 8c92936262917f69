"""Pipeline stages, one module each, registered in :data:`~ilsvrc_pipe.engine.stage.STAGES`.

:func:`default_stages` gives the pipeline's stages; the runner (``ilsvrc_pipe/engine/pipeline.py``)
orders them by what each requires. Nothing of the package outside this folder imports it: the
tools hand the runner these stages.
"""
from ..engine.stage import STAGES, Stage

__all__ = ["PIPELINE_ORDER", "default_stages"]


PIPELINE_ORDER = ("data", "cls", "rpn", "rcnn", "loc", "det", "eval")


def default_stages() -> list[Stage]:
    """One instance of every stage of the package, in pipeline order (the runner orders by
    ``requires``; ties keep this order). Importing the stage modules registers them."""
    from . import classify, data, detect, evaluate, localize, rcnn, rpn  # noqa: F401

    names = [n for n in PIPELINE_ORDER if n in STAGES.module_dict]
    names += [n for n in STAGES.module_dict if n not in names]
    return [STAGES.get(name)() for name in names]
