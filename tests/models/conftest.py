"""Model tests run tiny tensors: one thread is fastest there, and immune to other jobs on the cores."""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
