"""Reproducible augmentation: every training sample draws its randomness from (seed, epoch, position).

The random crops, flips, scales and colour shifts of a sample are a function of the run's seed,
the epoch and the sample's position in that epoch's shuffled order, not of how many samples the
process drew before it. So a training resumed from a checkpoint sees exactly the samples an
uninterrupted one would, and the augmentation does not depend on the number of DataLoader
workers or DDP processes.

:class:`SeededSampler` (mmengine's ``DefaultSampler`` order) yields :class:`SampleKey`; a dataset
built on :class:`SeededDataset` seeds torch's generator from the key around ``get(index)``.
"""
from __future__ import annotations

import abc
import contextlib
from typing import Iterator, NamedTuple

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS


class SampleKey(NamedTuple):
    index: int
    seed: int


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed from the three numbers (independent streams for nearby inputs)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(position)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` (shuffle by ``seed + epoch``, round up, rank slices) yielding
    :class:`SampleKey`: the index and a seed from (seed, epoch, position in the global order)."""

    def __iter__(self) -> Iterator[SampleKey]:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = torch.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.round_up:
            indices = (indices * int(self.total_size / max(n, 1) + 1))[:self.total_size]
        for position in range(self.rank, len(indices), self.world_size):
            yield SampleKey(indices[position], sample_seed(self.seed, self.epoch, position))


@contextlib.contextmanager
def seeded_generators(seed: int, numpy: bool = True) -> Iterator[None]:
    """Seed torch's and (with ``numpy``) numpy's global generators (mmcv's transforms draw from
    numpy's) for the duration of the block, then restore them."""
    numpy_state = np.random.get_state() if numpy else None
    torch_state = torch.get_rng_state()
    # Only the CPU generator: ``torch.manual_seed`` also queues a seed for every accelerator
    # backend, recording a Python stack each time, which was a quarter of an R-CNN training step.
    torch.default_generator.manual_seed(seed)
    if numpy:
        np.random.seed(seed & 0xFFFFFFFF)
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        if numpy:
            np.random.set_state(numpy_state)


class SeededDataset(torch.utils.data.Dataset, metaclass=abc.ABCMeta):
    """A dataset whose ``get(index)`` draws from torch's or numpy's global generator: keyed access
    makes it reproducible.

    ``dataset[i]`` (an int) draws from the current generators as usual; ``dataset[SampleKey]`` seeds
    them with the key's seed first and restores them afterwards, leaving the caller's draws untouched.
    """

    # False for a dataset whose ``get`` draws from torch's generator only: its keyed access then
    # leaves numpy's alone (saving and seeding numpy's 2.5 kB state was half of fetching an R-CNN
    # batch of cached crops)
    draws_from_numpy: bool = True

    @abc.abstractmethod
    def get(self, index: int) -> dict:
        """Item ``index``; may draw from torch's and numpy's global generators."""

    def __getitem__(self, key) -> dict:
        if isinstance(key, SampleKey):
            with seeded_generators(key.seed, numpy=self.draws_from_numpy):
                return self.get(int(key.index))
        return self.get(int(key))
