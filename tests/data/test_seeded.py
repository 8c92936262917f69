"""Reproducible augmentation: a sample's randomness depends on (seed, epoch, position) only."""
import numpy as np
import torch

from ilsvrc_pipe.data.seeded import SampleKey, SeededDataset, SeededSampler


class Noise(SeededDataset):
    def __len__(self):
        return 10

    def get(self, i):
        return {"i": i, "noise": torch.rand(3)}


def keys(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_same_seed_and_epoch_give_the_same_keys_and_samples():
    ds = Noise()
    a, b = SeededSampler(ds, seed=3), SeededSampler(ds, seed=3)
    ka, kb = keys(a, 1), keys(b, 1)
    assert ka == kb and sorted(k.index for k in ka) == list(range(10))
    torch.manual_seed(0)
    first = [ds[k]["noise"] for k in ka]
    torch.rand(100)  # whatever the process drew before: the keyed samples do not change
    again = [ds[k]["noise"] for k in ka]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert keys(a, 2) != ka  # another epoch: another order and other draws
    assert keys(SeededSampler(ds, seed=4), 1) != ka


def test_keyed_access_leaves_the_callers_generators_alone():
    ds = Noise()
    torch.manual_seed(1)
    np.random.seed(1)
    expected, expected_np = torch.rand(2), np.random.rand(2)
    torch.manual_seed(1)
    np.random.seed(1)
    ds[SampleKey(2, 12345)]
    assert torch.equal(torch.rand(2), expected) and np.array_equal(np.random.rand(2), expected_np)
    assert isinstance(ds[4]["noise"], torch.Tensor)  # plain int access still works


def test_numpy_draws_are_seeded_too():
    class NumpyNoise(Noise):
        def get(self, i):
            return np.random.rand(2)

    ds = NumpyNoise()
    a = ds[SampleKey(1, 99)]
    np.random.rand(10)
    assert np.array_equal(ds[SampleKey(1, 99)], a) and not np.array_equal(ds[SampleKey(1, 98)], a)


def test_keys_do_not_depend_on_the_number_of_processes(monkeypatch):
    """Two ranks together draw exactly the (index, seed) pairs one process draws."""
    ds = Noise()
    one = keys(SeededSampler(ds, seed=0), 0)
    ranks = []
    for rank in (0, 1):
        monkeypatch.setattr("mmengine.dataset.sampler.get_dist_info", lambda r=rank: (r, 2))
        ranks += keys(SeededSampler(ds, seed=0), 0)
    assert sorted(ranks) == sorted(one)
