#!/usr/bin/python3
"""A TCP relay that holds every byte for a fixed time in each direction: an upstream one cloud
region away, for the data-path benchmark (tc netem is not available without the sch_netem module,
which a user namespace cannot load).

    delay_relay.py --listen PORT --target HOST:PORT --delay-ms 20

Each direction is a queue of (due time, bytes): bytes read at t are written at t + delay, in order,
so a round trip costs 2 x delay whatever the request. At most --window bytes are in flight per
direction (the bandwidth-delay product the path can hold; beyond it the reader waits, which is the
back-pressure a real path gives). Half-closes are passed on; a reset closes both sides.
Prints "listening" on stdout once it accepts connections.
"""
import argparse
import asyncio
import socket
import sys
import time

CHUNK = 64 * 1024


async def pump(reader, writer, delay, window_chunks):
    queue = asyncio.Queue(maxsize=window_chunks)

    async def feed():
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def drain():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except (ConnectionError, OSError):
                    pass
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(feed(), drain())


async def serve(args):
    host, port = args.target.rsplit(":", 1)
    delay = args.delay_ms / 1000.0
    window_chunks = max(1, args.window // CHUNK)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(pump(client_reader, up_writer, delay, window_chunks),
                                 pump(up_reader, client_writer, delay, window_chunks))
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (client_writer, up_writer):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen, backlog=128)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    parser.add_argument("--window", type=int, default=4 * 1024 * 1024, help="bytes in flight per direction")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
