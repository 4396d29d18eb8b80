"""HostSlots: the per-host limit the fetch pool and the hub's calls share."""

from __future__ import annotations

import threading

from feedsvc.host_slots import HostSlots


def test_a_host_gets_at_most_its_slots_and_others_are_not_affected() -> None:
    slots = HostSlots(2)
    assert [slots.take("a.example") for _ in range(3)] == [True, True, False]
    assert slots.take("b.example")
    assert slots.full() == {"a.example"}
    assert (slots.free("a.example"), slots.free("b.example"), slots.free("c.example")) == (0, 1, 2)


def test_a_slot_given_back_can_be_taken_again() -> None:
    slots = HostSlots(1)
    assert slots.take("a.example")
    slots.give("a.example")
    assert slots.full() == set()
    assert slots.free("a.example") == 1
    assert slots.take("a.example")
    assert not slots.take("a.example")


def test_threads_taking_at_once_never_pass_the_limit() -> None:
    slots = HostSlots(3)
    start = threading.Barrier(16)
    won: list[bool] = []

    def take() -> None:
        start.wait()
        won.append(slots.take("a.example"))

    threads = [threading.Thread(target=take) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 3
    assert slots.free("a.example") == 0
