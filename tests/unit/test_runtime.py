"""The process-wide pause of the cyclic collector around a roll's generation."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from ledger.store.runtime import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after_the_last_pause_ends(
    collector_on: None,
) -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested (or another thread's): the outer one still runs
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_ending_by_an_error_still_turns_the_collector_on(collector_on: None) -> None:
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("a roll failed")
    assert gc.isenabled()


def test_pauses_in_two_threads_overlap_and_the_collector_comes_back_once_both_end(
    collector_on: None,
) -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            leave.wait(timeout=10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(timeout=10)
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause still runs
    leave.set()
    thread.join()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
