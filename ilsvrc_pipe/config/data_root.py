"""Where the data comes from: the user's ILSVRC tree, or the embedded mini dataset on first use."""
from __future__ import annotations

import logging
from pathlib import Path

from mmengine.config import Config


def resolve_data_root(cfg: Config, data_root: str | None, logger: logging.Logger) -> Path:
    """The data root to use; the config's default root is generated when absent and allowed.

    Only the config's own default root is ever generated: a user's ``--data-root`` that does not
    exist is an error, never silently replaced by synthetic data.
    """
    from ..utils.distributed import barrier, is_main

    default = Path(cfg.data.root)
    root = Path(data_root) if data_root else default
    barrier()   # under torchrun: no rank looks before all have arrived (rank 0 may generate below)
    if root.exists():
        return root
    gen = cfg.data.get("generate")
    if root.resolve() == default.resolve() and gen:
        from ..synthetic import ensure_mini_ilsvrc

        if is_main():
            logger.info("data root %s is absent: generating the %s preset (seed %s)", root, gen["preset"], gen["seed"])
            ensure_mini_ilsvrc(root, preset=gen["preset"], seed=int(gen["seed"]))
        barrier()
        return root
    raise FileNotFoundError(f"data root {root} does not exist (expected a folder holding ILSVRC/)")
