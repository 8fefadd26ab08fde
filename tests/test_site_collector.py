"""The site build keeps the history and its facts out of the garbage collector's full collections
(``gc.freeze``) while it runs, and leaves the collector as it found it: everything collectable again after a
build in a process that froze nothing (the CLI), the service's frozen state left frozen (its requests must not
meet a full collection walking the state)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from catalog.website.build import _out_of_collector


@pytest.fixture
def collector() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("collector")
def test_a_build_in_a_process_that_froze_nothing_unfreezes_what_it_froze() -> None:
    kept = [[n] for n in range(1000)]
    with _out_of_collector():
        assert gc.get_freeze_count() >= len(kept)
        facts = [[n] for n in range(1000)]
        gc.freeze()  # as the build does once the facts are gathered
        assert gc.get_freeze_count() >= len(kept) + len(facts)
    assert gc.get_freeze_count() == 0
    assert gc.is_tracked(kept[0]) and gc.is_tracked(facts[0])


@pytest.mark.usefixtures("collector")
def test_a_build_in_the_service_leaves_its_frozen_state_frozen() -> None:
    state = [[n] for n in range(1000)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen >= len(state)
    with _out_of_collector():
        pass
    assert gc.get_freeze_count() >= frozen


@pytest.mark.usefixtures("collector")
def test_an_error_in_the_build_unfreezes_too() -> None:
    with pytest.raises(RuntimeError), _out_of_collector():
        raise RuntimeError("the build failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector")
def test_a_build_told_the_heap_is_frozen_leaves_it_frozen_without_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's job says so (``heap_frozen``): the count, a walk of every frozen object, is not taken."""
    state = [[n] for n in range(1000)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen >= len(state)
    counted: list[int] = []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: counted.append(1) or frozen)
    with _out_of_collector(True):
        pass
    monkeypatch.undo()
    assert counted == []
    assert gc.get_freeze_count() >= frozen  # left frozen
    with _out_of_collector(False):  # told nothing was: unfrozen after, as a build that counted none
        pass
    assert gc.get_freeze_count() == 0
