"""Numeric precision of training and inference: ``fp32`` (default), or ``bf16`` / ``fp16`` mixed precision.

The config's top-level section ``precision = dict(train='fp32', test='fp32')`` chooses it, as
mmdetection's ``AmpOptimWrapper`` / detectron2's ``AMP`` switches do; ``--cfg-options
precision.test=bf16`` changes it for one run. One module, so that every inference loop (the stages'
and ``tools/predict.py``'s) and every training mixes precision the same way:

* inference: :func:`autocast_call` runs a model call under ``torch.autocast(device, dtype)`` and
  casts every floating tensor it returns (scores, boxes) back to float32, so the tables never hold
  half-precision numbers; ``fp32`` is a plain call (results identical to a build without this module);
* training: :func:`optim_wrapper_cfg` picks mmengine's ``AmpOptimWrapper`` on a GPU (loss scaling,
  autocast in ``optim_context``), and on the CPU :class:`CPUAutocastOptimWrapper` for ``bf16``,
  because mmengine's wrapper refuses a machine without a GPU; ``fp16`` training on the CPU is a
  user error (no loss scaler there, and fp16 gradients underflow without one).

fp16 inference on the CPU is allowed where torch autocasts to fp16 on the CPU (recent versions); where it
cannot, or a GPU lacks bf16, :func:`autocast` refuses with one line instead of running fp32 silently.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Any, Callable, Mapping

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from .errors import UserInputError

CHOICES = ("fp32", "bf16", "fp16")
DEFAULT = {"train": "fp32", "test": "fp32"}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_AMP_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16"}   # AmpOptimWrapper's spelling


def read(section: Mapping | None) -> dict[str, str]:
    """``{"train": ..., "test": ...}`` of a config's ``precision`` section (absent keys: fp32)."""
    if section is not None and not isinstance(section, Mapping):
        raise UserInputError(f"precision={section!r}: expected precision = dict(train='fp32', test='fp32') "
                             f"with values among {', '.join(CHOICES)}")
    section = dict(section or {})
    unknown = sorted(set(section) - set(DEFAULT))
    if unknown:
        raise UserInputError(f"precision: unknown key(s) {unknown}; expected precision = dict(train=..., test=...)")
    out = {**DEFAULT, **section}
    for key, value in out.items():
        if value not in CHOICES:
            raise UserInputError(f"precision.{key}={value!r}: expected one of {', '.join(CHOICES)}")
    return out


def is_default(section: Mapping | None) -> bool:
    """Whether a ``precision`` section asks for fp32 everywhere (also when absent). The pipeline
    leaves such a section out of a stage's fingerprint, so runs made before it existed keep their caches."""
    try:
        return read(section) == DEFAULT
    except (UserInputError, TypeError, ValueError):
        return False


def check_training(name: str, on_cuda: bool | None = None) -> str:
    """``name`` if this machine can train in it: fp16 training needs a GPU (and its loss scaler)."""
    on_cuda = torch.cuda.is_available() if on_cuda is None else on_cuda
    if name not in CHOICES:
        raise UserInputError(f"precision.train={name!r}: expected one of {', '.join(CHOICES)}")
    if name == "fp16" and not on_cuda:
        raise UserInputError("precision.train='fp16' needs a CUDA GPU (torch sees none here); "
                             "train on the CPU with 'bf16' or 'fp32'")
    return name


def check(cfg, device: torch.device | str) -> dict[str, str]:
    """The config's precision, checked against the device the run computes on, before any stage runs."""
    out = read(cfg.get("precision", None))
    check_training(out["train"], on_cuda=torch.device(device).type == "cuda")
    autocast(device, out["test"])   # built, not entered: a dtype this torch cannot autocast to is refused now
    return out


def autocast(device: torch.device | str, name: str):
    """``torch.autocast`` for ``name`` on ``device``'s type; a null context for fp32."""
    if name not in CHOICES:
        raise UserInputError(f"precision {name!r}: expected one of {', '.join(CHOICES)}")
    if name == "fp32":
        return contextlib.nullcontext()
    kind = torch.device(device).type
    unsupported = UserInputError(f"precision {name!r}: torch {torch.__version__} cannot autocast to {name} "
                                 f"on the {kind.upper()} here; use {'bf16' if name == 'fp16' else 'fp16'} or fp32")
    with warnings.catch_warnings():   # torch warns and silently runs fp32 for a dtype it lacks: refuse instead
        warnings.simplefilter("ignore")
        try:
            ctx = torch.autocast(kind, dtype=DTYPES[name])
        except RuntimeError:   # e.g. a GPU without bfloat16
            raise unsupported from None
    if not getattr(ctx, "_enabled", True):
        raise unsupported
    return ctx


def to_float32(value: Any) -> Any:
    """``value`` with every floating tensor in it (also in dicts, lists, tuples, named tuples and
    dataclasses) as float32; integer tensors (labels) and other values unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return type(value)((k, to_float32(v)) for k, v in value.items())
    if isinstance(value, tuple) and hasattr(value, "_fields"):   # NamedTuple (ScoredBoxes)
        return type(value)(*(to_float32(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: to_float32(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


def autocast_call(device: torch.device | str, name: str, fn: Callable, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` under :func:`autocast`, its floating outputs back in float32."""
    with autocast(device, name):
        out = fn(*args, **kwargs)
    return out if name == "fp32" else to_float32(out)


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` whose forward context autocasts to bfloat16 on the CPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU; bf16 needs no loss scaling (its exponent range is
    float32's), so the plain wrapper plus ``torch.autocast('cpu', torch.bfloat16)`` around the
    forward and loss (``BaseModel.train_step`` enters ``optim_context``) is all that is missing.
    Weights, gradients and optimizer state stay float32.
    """

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast("cpu", dtype=torch.bfloat16):
            yield


def optim_wrapper_cfg(name: str, optimizer: dict, clip_grad: dict | None = None) -> dict:
    """The Runner's ``optim_wrapper`` config for training in ``name`` on this machine."""
    check_training(name)
    base = dict(optimizer=optimizer, clip_grad=clip_grad)
    if name == "fp32":
        return dict(type="OptimWrapper", **base)
    if torch.cuda.is_available():
        return dict(type="AmpOptimWrapper", dtype=_AMP_DTYPE_NAMES[name], loss_scale="dynamic", **base)
    return dict(type="CPUAutocastOptimWrapper", **base)
