"""The one thread -> event loop hand-off shared by the server's event streams and factstr.aio."""

from __future__ import annotations

import asyncio
import threading
import time

from factstr._handoff import Handoff
from factstr.aio._bridge import Bridge
from factstr.server._sse import Channel


def test_an_item_put_from_a_thread_wakes_the_waiting_reader_at_once() -> None:
    async def scenario() -> tuple[int | None, float]:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop())
        threading.Timer(0.05, handoff.put, [7]).start()
        started = time.monotonic()
        item = await handoff.get(timeout=10)
        return item, time.monotonic() - started

    item, waited = asyncio.run(scenario())
    assert item == 7 and waited < 5


def test_items_come_out_in_order_and_an_empty_handoff_times_out_with_none() -> None:
    async def scenario() -> list[int | None]:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop())
        for number in (1, 2, 3):
            handoff.put(number)
        return [await handoff.get(0.01) for _ in range(4)]

    assert asyncio.run(scenario()) == [1, 2, 3, None]


def test_putting_after_the_event_loop_closed_says_nobody_will_take_it() -> None:
    loop = asyncio.new_event_loop()
    handoff: Handoff[int] = Handoff(loop)
    loop.close()
    assert handoff.put(1) is False


def test_the_server_channel_and_the_async_bridge_share_the_one_handoff() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(Channel(loop, 1024)._handoff, Handoff)
        assert isinstance(Bridge(loop, durable=False, max_pending=1).handoff, Handoff)
    finally:
        loop.close()
