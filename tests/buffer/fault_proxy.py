"""A TCP proxy that breaks connections on demand, between the buffer and a real
RTSP server (RTSP over TCP: the RTP packets travel interleaved on the same
connection). It runs its own event loop in a thread, so the faults it injects
do not wait on the test's loop.

Faults, as a flaky network or camera gives them:

* ``reset()``: every open connection is aborted with a TCP RST (SO_LINGER 0),
  as a camera rebooting or a switch flapping does; new connections work.
* ``refuse()`` / ``accept()``: the port stops listening (connections are
  refused) / listens again.
* ``blackhole()`` / ``heal()``: connections stay open but nothing is forwarded
  any more (a cable pulled past the switch) / new connections forward again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading


class FaultProxy:
    """Listens on 127.0.0.1:``port`` (0: any free port) and forwards to
    127.0.0.1:``target_port``."""

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._blackholed = False

    def start(self) -> None:
        self._thread.start()
        self.accept()

    def close(self) -> None:
        self._call(self._close_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def reset(self) -> None:
        self._call(self._reset_all)

    def refuse(self) -> None:
        self._call(self._stop_listening)

    def accept(self) -> None:
        self._call(self._listen)

    def blackhole(self) -> None:
        self._blackholed = True

    def heal(self) -> None:
        """New connections forward again; the blackholed ones stay dead."""
        self._call(self._reset_all)
        self._blackholed = False

    # -- on the proxy's loop -----------------------------------------------------

    def _call(self, coroutine_function) -> None:  # type: ignore[no-untyped-def]
        asyncio.run_coroutine_threadsafe(coroutine_function(), self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _reset_all(self) -> None:
        for client, upstream in list(self._connections):
            for writer in (client, upstream):
                sock = writer.get_extra_info("socket")
                # A connection its peer closed meanwhile has no descriptor any more.
                if sock is not None and sock.fileno() >= 0:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                writer.transport.abort()
        self._connections.clear()

    async def _close_all(self) -> None:
        await self._reset_all()
        await self._stop_listening()

    async def _handle(self, client_reader, client_writer) -> None:  # type: ignore[no-untyped-def]
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, up_writer)
        self._connections.add(pair)
        await asyncio.gather(
            self._pump(client_reader, up_writer),
            self._pump(up_reader, client_writer),
            return_exceptions=True,
        )
        self._connections.discard(pair)
        for writer in pair:
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self._blackholed:
                continue  # swallowed: the peer hears nothing
            writer.write(data)
            await writer.drain()
