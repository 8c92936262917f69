"""distributed.py: the one-process identity, and two gloo processes gathering and writing once."""
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ilsvrc_pipe.utils import distributed as D
from ilsvrc_pipe.utils.device import resolve_device
from ilsvrc_pipe.utils.errors import UserInputError
from ilsvrc_pipe.utils.io_utils import write_text_atomic


def test_one_process_is_the_identity():
    assert not D.is_distributed() and D.rank() == 0 and D.world_size() == 1 and D.is_main()
    assert D.all_gather({"a": 1}) == [{"a": 1}]
    assert D.on_main(lambda: 7) == 7


def _worker(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        assert D.all_gather(rank * rank) == [0, 1]
        path = Path(out) / "artifact.txt"
        assert not path.exists()             # no rank sees it before the write
        write_text_atomic(path, f"written by rank {rank}\n")
        assert path.read_text() == "written by rank 0\n"   # every rank sees rank 0's file at once
        D.on_main(lambda: path.unlink())
        assert not path.exists()
    finally:
        dist.destroy_process_group()


def test_two_processes_gather_and_rank_zero_writes(tmp_path):
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


# -- a section rank 0 runs alone (run_on_main_only) ----------------------------------------------
def _alone_worker(rank: int, world: int, init: str, out: str) -> None:
    import datetime
    import time

    from ilsvrc_pipe.utils.errors import DataFormatError

    # a short timeout: a barrier that rank 0 waited in alone would fail the test instead of hanging it
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    out = Path(out)
    try:
        def index():
            (out / f"ran_on_rank_{D.rank()}").touch()
            write_text_atomic(out / "a.txt", "first\n")      # through atomic_path: no barrier inside
            write_text_atomic(out / "b.txt", "second\n")
            D.on_main(lambda: (out / "b.txt").unlink())      # a deletion, also without a barrier
            time.sleep(2.0)                                   # the other rank waits, blocked
            return {"images": 7}

        cpu = time.process_time()
        assert D.run_on_main_only(index) == {"images": 7}
        waited_cpu = time.process_time() - cpu
        assert (out / "a.txt").read_text() == "first\n" and not (out / "b.txt").exists()
        assert sorted(p.name for p in out.glob("ran_on_rank_*")) == ["ran_on_rank_0"]
        if rank != 0:
            assert waited_cpu < 1.0, f"rank {rank} spent {waited_cpu:.2f} s of CPU waiting for rank 0"
            with pytest.raises(RuntimeError, match="only rank 0"):
                with D.main_rank_only():
                    pass

        def fail():
            raise DataFormatError("list.txt:3: expected an integer image index, got 'x'")

        with pytest.raises(DataFormatError, match=r"^list\.txt:3: expected an integer"):
            D.run_on_main_only(fail)
        write_text_atomic(out / "c.txt", f"rank {rank}\n")   # collective writes work again after it
        assert (out / "c.txt").read_text() == "rank 0\n"
    finally:
        dist.destroy_process_group()


def test_rank_zero_runs_a_section_alone_and_every_rank_gets_its_result_or_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mp.spawn(_alone_worker, args=(2, f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=2, join=True)
    assert not list(out.glob(".*.tmp"))


def test_run_on_main_only_in_one_process_is_a_call():
    assert D.run_on_main_only(lambda: 5) == 5
    with D.main_rank_only():
        assert D.on_main(lambda: 3) == 3


# -- a rank dies with torchrun ------------------------------------------------------------------
_RANK_SCRIPT = """
import os, sys, time
from pathlib import Path
from ilsvrc_pipe.utils import distributed
distributed.{entry}
Path(sys.argv[1], f"rank{os.environ['RANK']}.pid").write_text(str(os.getpid()))
time.sleep(120)
"""


@pytest.mark.parametrize("entry", ["init_from_env('gloo')",   # tools/run_pipeline.py
                                   "die_with_torchrun()"])     # tools/train.py (mmengine joins the group)
def test_ranks_die_with_a_killed_torchrun(tmp_path, entry, processes):
    """torchrun starts each rank in a session of its own: a SIGKILL of its process group does not
    reach them, yet they must not go on running (and writing into the work dir) without it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "rank.py"
    script.write_text(_RANK_SCRIPT.replace("{entry}", entry))
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29549", str(script), str(tmp_path)], cwd=repo,
                            env={**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pid_files = [tmp_path / f"rank{r}.pid" for r in range(2)]
    t0 = time.monotonic()
    while not all(p.is_file() for p in pid_files):
        assert proc.poll() is None and time.monotonic() - t0 < 120, "the ranks never joined"
        time.sleep(0.05)
    ranks = [int(p.read_text()) for p in pid_files]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not processes.survivors(ranks, within=20), "ranks outlived torchrun"

