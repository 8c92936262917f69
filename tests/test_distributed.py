"""distributed.py: the one-process identity, and two gloo processes sharing work and writing once."""
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ilsvrc_pipe import distributed as D
from ilsvrc_pipe.data.errors import UserInputError
from ilsvrc_pipe.device import resolve_device
from ilsvrc_pipe.io_utils import write_text_atomic


def test_one_process_is_the_identity():
    assert not D.is_distributed() and D.rank() == 0 and D.world_size() == 1 and D.is_main()
    assert D.shard(range(5)) == [0, 1, 2, 3, 4]
    assert D.all_gather({"a": 1}) == [{"a": 1}]
    assert D.gather_dict({"x": 2}) == {"x": 2}
    assert D.on_main(lambda: 7) == 7


def _worker(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        assert D.shard(list(range(5))) == ([0, 2, 4] if rank == 0 else [1, 3])
        merged = D.gather_dict({i: i * i for i in D.shard(list(range(5)))})
        assert merged == {i: i * i for i in range(5)}
        path = Path(out) / "artifact.txt"
        assert not path.exists()             # no rank sees it before the write
        write_text_atomic(path, f"written by rank {rank}\n")
        assert path.read_text() == "written by rank 0\n"   # every rank sees rank 0's file at once
        D.on_main(lambda: path.unlink())
        assert not path.exists()
    finally:
        dist.destroy_process_group()


def test_two_processes_split_work_and_rank_zero_writes(tmp_path):
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_worker, args=(2, init, str(tmp_path)), nprocs=2, join=True)
    assert not (tmp_path / "artifact.txt").exists() and not list(tmp_path.glob(".artifact*"))


def test_device_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(UserInputError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(UserInputError, match="expected one of"):
        resolve_device("tpu")
