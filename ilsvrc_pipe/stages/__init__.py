"""Pipeline stages, one module each, registered in :data:`~ilsvrc_pipe.stages.base.STAGES`.

:func:`default_stages` gives the pipeline's stages; the runner (``ilsvrc_pipe/pipeline.py``)
orders them by what each requires.
"""
from .base import STAGES, Stage, StageContext, register_stage

__all__ = ["STAGES", "Stage", "StageContext", "register_stage", "default_stages"]


def default_stages() -> list[Stage]:
    """One instance of every stage of the package (importing the stage modules registers them)."""
    from . import classify, data, evaluate, localize, rcnn, rpn  # noqa: F401

    return [STAGES.get(name)() for name in STAGES.module_dict]
