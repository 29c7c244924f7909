"""Worker pools: every item is done once in the result, and a crashing worker costs one item."""

from __future__ import annotations

import os

import pytest

from videossr.parallel import WorkerCrash, map_unordered


def square_or_die(item: int) -> int:
    if item == 13:
        os._exit(3)  # a hard crash, like a decoder segfault: no exception reaches the pool
    return item * item


def raise_on_seven(item: int) -> int:
    if item == 7:
        raise ValueError("seven")
    return item


@pytest.mark.parametrize("workers", [1, 2])
def test_every_item_comes_back_once_with_its_result(workers):
    results = dict(map_unordered(abs, [-3, -2, -1, 0, 1], workers))
    assert results == {-3: 3, -2: 2, -1: 1, 0: 0, 1: 1}


@pytest.mark.slow
def test_a_crashing_worker_is_reported_for_its_item_and_the_rest_complete():
    results = dict(map_unordered(square_or_die, range(20), 2))
    assert set(results) == set(range(20))
    assert isinstance(results[13], WorkerCrash)
    assert all(results[i] == i * i for i in range(20) if i != 13)


def test_exceptions_raised_by_the_function_propagate():
    with pytest.raises(ValueError, match="seven"):
        list(map_unordered(raise_on_seven, range(10), 2))


def always_die(item: int) -> int:
    os._exit(3)


@pytest.mark.slow
def test_workers_that_always_die_stop_the_run_with_an_explanation():
    with pytest.raises(RuntimeError, match="worker processes in a row died"):
        list(map_unordered(always_die, range(10), 2))
