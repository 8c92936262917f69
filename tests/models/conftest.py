"""Model tests run tiny tensors: one thread (``single_thread`` in tests/conftest.py) for all of them."""
import pytest


@pytest.fixture(autouse=True)
def _models_single_thread(single_thread):
    yield
