"""The memory that carries a tab's things across a reload: per token, bounded, expiring, thread-safe."""

from __future__ import annotations

import threading

import pytest

from dashboard.tab_memory import TabMemory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_token_recalls_only_its_own_value():
    memory = TabMemory()
    memory.keep("tab-a", {"drawings": [1, 2]})
    memory.keep("tab-b", {"drawings": [3]})
    assert memory.recall("tab-a") == {"drawings": [1, 2]}
    assert memory.recall("tab-b") == {"drawings": [3]}
    assert memory.recall("tab-c") is None
    assert memory.recall("") is None
    memory.keep("tab-a", "replaced")
    assert memory.recall("tab-a") == "replaced" and memory.recall("tab-b") == {"drawings": [3]}


def test_forget_drops_one_tab():
    memory = TabMemory()
    memory.keep("tab-a", 1)
    memory.keep("tab-b", 2)
    memory.forget("tab-a")
    memory.forget("never-kept")
    assert memory.recall("tab-a") is None and memory.recall("tab-b") == 2 and len(memory) == 1


def test_beyond_the_bound_the_least_recently_kept_goes():
    memory = TabMemory(max_tabs=3)
    for token in ("a", "b", "c"):
        memory.keep(token, token.upper())
    memory.keep("a", "A again")  # kept again: now the most recent
    memory.keep("d", "D")
    assert len(memory) == 3
    assert memory.recall("b") is None
    assert [memory.recall(token) for token in ("a", "c", "d")] == ["A again", "C", "D"]


def test_a_value_expires_after_its_last_change():
    clock = FakeClock()
    memory = TabMemory(forget_after=60, clock=clock)
    memory.keep("old", 1)
    clock.now += 40
    memory.keep("new", 2)
    clock.now += 19
    assert memory.recall("old") == 1
    clock.now += 1  # 60 s after "old" was kept
    assert memory.recall("old") is None and memory.recall("new") == 2
    memory.keep("new", 3)  # a change restarts its time
    clock.now += 59
    assert memory.recall("new") == 3 and len(memory) == 1
    clock.now += 1
    assert memory.recall("new") is None and len(memory) == 0


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError, match="max_tabs must be at least 1"):
        TabMemory(max_tabs=0)


def test_sessions_keeping_and_recalling_at_once_never_see_another_tab():
    memory = TabMemory(max_tabs=50)
    wrong: list[tuple[str, object]] = []

    def session(number: int) -> None:
        token = f"tab-{number}"
        for change in range(300):
            memory.keep(token, (token, change))
            recalled = memory.recall(token)
            if recalled is not None and recalled[0] != token:
                wrong.append((token, recalled))

    threads = [threading.Thread(target=session, args=(number,)) for number in range(80)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(memory) == 50  # 80 tabs kept, the bound held
    assert all(memory.recall(f"tab-{number}") in (None, (f"tab-{number}", 299)) for number in range(80))
