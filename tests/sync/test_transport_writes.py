"""Writes of one loop turn leave the process as one socket write."""

from __future__ import annotations

import asyncio

from ska.sync.transport import DirectConnector


class _Collector(asyncio.Protocol):
    """Remember what a connection received, and when it ended."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


class _Remembering(_Collector):
    """A collector that keeps the transport it was given."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport


def test_direct_connector_joins_the_writes_of_one_turn() -> None:
    writes, received, _ = asyncio.run(_run([b"ignore", b"packet", b"next"], "wait"))

    assert writes == [b"ignorepacketnext"]
    assert received == b"ignorepacketnext"


def test_direct_connector_sends_queued_writes_before_closing() -> None:
    writes, received, _ = asyncio.run(_run([b"last", b"words"], "close"))

    assert writes == [b"lastwords"]
    assert received == b"lastwords"


async def _run(send: list[bytes], end: str) -> tuple[list[bytes], bytes, object]:
    """Write ``send`` in one turn through the connector; return what happened.

    The result: the writes the socket transport got, the bytes the far end
    received, and the protocol the connector handed back.
    """
    client = _Remembering()
    received = _Collector()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: received, "127.0.0.1", 0)
    port = int(listener.sockets[0].getsockname()[1])
    try:
        raw, protocol = await DirectConnector().create_connection(
            lambda: client, "127.0.0.1", port
        )
        assert protocol is client
        assert isinstance(raw, asyncio.Transport)
        writes: list[bytes] = []
        inner_write = raw.write

        def counted(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            inner_write(data)

        raw.write = counted  # type: ignore[method-assign]
        for chunk in send:
            client.transport.write(chunk)
        if end == "wait":
            await asyncio.sleep(0.05)
        client.transport.close()
        await asyncio.wait_for(received.closed.wait(), 5)
        return writes, received.data, protocol
    finally:
        listener.close()
        await listener.wait_closed()
