"""Table lookups and one-argsort orderings give exactly what searchsorted and lexsort give."""
from __future__ import annotations

import numpy as np
import pytest

from ilsvrc_pipe.evaluation.key_lookup import descending_rank, equal_range, find_sorted, lexsort_ints


@pytest.mark.parametrize("seed", range(5))
def test_equal_range_and_find_sorted_match_searchsorted(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        low = -3 if rng.uniform() < 0.3 else 0  # negative keys: the searchsorted fallback
        keys = np.sort(rng.integers(low, rng.integers(1, 40), rng.integers(0, 50)))
        queries = rng.integers(-5, 60, rng.integers(0, 100))
        lo, count = equal_range(keys, queries)
        assert np.array_equal(lo, np.searchsorted(keys, queries, "left"))
        assert np.array_equal(count, np.searchsorted(keys, queries, "right") - lo)
        at, found = find_sorted(keys, queries)
        assert np.array_equal(at, lo) and np.array_equal(found, np.isin(queries, keys))


def test_sparse_keys_fall_back_to_searchsorted():
    keys = np.array([0, 5, 1 << 40], dtype=np.int64)
    lo, count = equal_range(keys, np.array([5, 1 << 40, 7]))
    assert lo.tolist() == [1, 2, 2] and count.tolist() == [1, 1, 0]


@pytest.mark.parametrize("seed", range(5))
def test_lexsort_ints_is_lexsort(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    scores = np.round(rng.uniform(-1, 1, n), 1)
    scores[rng.integers(0, n, 50)] = -0.0
    rank = descending_rank(scores)
    keys = (rng.integers(-1, 30, n), rank, rng.integers(0, 7, n))
    assert np.array_equal(lexsort_ints(*keys), np.lexsort(keys[::-1]))
    assert np.array_equal(lexsort_ints(keys[0], rank), np.lexsort((-scores, keys[0])))


def test_descending_rank_ties_and_signed_zero():
    assert descending_rank(np.array([0.5, -0.0, 0.0, 1.0, 0.5])).tolist() == [1, 2, 2, 0, 1]


def test_lexsort_ints_huge_keys_and_empty():
    big = np.array([1 << 61, 0, 1 << 61, 5], dtype=np.int64)
    other = np.array([3, 2, 1, 0])
    assert np.array_equal(lexsort_ints(big, other), np.lexsort((other, big)))
    assert lexsort_ints(np.zeros(0, np.int64)).shape == (0,)
