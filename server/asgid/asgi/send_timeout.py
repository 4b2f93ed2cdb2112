"""Waiting for the wire to take more of a response, at most ``--send-timeout`` seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from asgid.types import Scope

logger = logging.getLogger("asgid.asgi.http")


class SendTimedOut(Exception):
    """The client took nothing of the response for ``--send-timeout`` seconds."""


async def sent_within(waiter: Awaitable[None], timeout_s: float) -> bool:
    """Await ``waiter`` for at most ``timeout_s`` (0: no limit); False if it took longer.

    The waiter belongs to the wire, which resolves it later whatever happens here, so it is
    never cancelled. One callback and one timer stand in for ``wait_for(shield(...))``: that
    pair wakes the sender three loop turns after the wire resolved the waiter, this two, and
    a streamed body waits here each time the socket is full.
    """
    if not timeout_s:
        await waiter
        return True
    future = asyncio.ensure_future(waiter)
    if not future.done():
        loop = future.get_loop()
        outcome: asyncio.Future[bool] = loop.create_future()

        def settle(_: object = None, sent: bool = True) -> None:
            if not outcome.done():
                outcome.set_result(sent)

        future.add_done_callback(settle)
        timer = loop.call_later(timeout_s, settle, None, False)
        try:
            if not await outcome:
                return False
        finally:
            timer.cancel()
            future.remove_done_callback(settle)
    future.result()  # the waiter's own exception or cancellation, as awaiting it would raise
    return True


async def wait_sent(waiter: Awaitable[None], timeout_s: float, scope: Scope) -> None:
    """Await ``waiter``; past ``timeout_s`` (0: no limit) log it once and raise.

    An HTTP/2 client that never opens its flow-control window (RFC 9113 §5.2), or an
    HTTP/1.1 client that never reads, would otherwise hold the app's send() for as long
    as it keeps the connection open.
    """
    if not await sent_within(waiter, timeout_s):
        logger.warning(
            "dropping a response whose client took nothing for %gs (--send-timeout): %s %s",
            timeout_s,
            scope.get("client"),
            scope.get("path"),
        )
        raise SendTimedOut(
            f"the client took no response data for {timeout_s:g}s (--send-timeout)"
        ) from None
