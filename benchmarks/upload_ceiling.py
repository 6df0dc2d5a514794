"""The ceilings an upload measurement runs into on this machine, without any registry in the way.

W4's upload figure is the rate at which the harness's client (aiohttp, `session.put(url, data=<open
file>)`) gets a file into a server. This script measures, on the same machine and with the same client
code, what that rate can be at most:

- `sink`: the client against a server that parses the request head and discards the body (uvloop, one
  process): the most any server can get from this client here;
- `disk`: the disk's own sequential write speed (blocks of 8 MiB written to a file in the target
  directory, then one fsync), the other bound of a local store.

    /tmp/regbench-venv/bin/python benchmarks/upload_ceiling.py --mb 200 --runs 5 --dir /tmp/regbench

Needs aiohttp and uvloop (the harness's venv has both). Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

BLOCK = 8 << 20


class DiscardingServer(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies only: reads each request's head, drops its body, answers 200."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.head = b""
        self.remaining: int | None = None

    def data_received(self, data: bytes) -> None:
        if self.remaining is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.head[:end].decode("latin-1").lower().split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in lines if line.startswith("content-length:"))
            self.remaining = length - (len(self.head) - end - 4)
            self.head = b""
        else:
            self.remaining -= len(data)
        if self.remaining <= 0:
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            self.remaining = None


async def client_rate(url: str, path: Path, size: int, runs: int) -> list[float]:
    """MB/s of `runs` PUTs of the file at `path` (`size` bytes), as the harness's W4 client sends them."""
    import aiohttp

    size_mb = size / 1e6
    rates = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            started = time.perf_counter()
            with path.open("rb") as body:
                async with session.put(url, data=body, headers={"Content-Type": "application/octet-stream"}) as r:
                    await r.read()
                    r.raise_for_status()
            rates.append(size_mb / (time.perf_counter() - started))
    return rates


async def sink_rates(path: Path, size: int, runs: int) -> list[float]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(DiscardingServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await client_rate(f"http://127.0.0.1:{port}/sink", path, size, runs)
    finally:
        server.close()
        await server.wait_closed()


def disk_rates(directory: Path, size: int, runs: int) -> list[float]:
    block = os.urandom(BLOCK)
    rates = []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(dir=directory) as handle:
            started = time.perf_counter()
            written = 0
            while written < size:
                written += os.write(handle.fileno(), block[: min(BLOCK, size - written)])
            os.fsync(handle.fileno())
            rates.append(size / 1e6 / (time.perf_counter() - started))
    return rates


def summary(rates: list[float]) -> dict[str, Any]:
    return {"median_MBps": round(statistics.median(rates), 1), "runs_MBps": [round(r, 1) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (W4 uses 200)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the files go")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    import uvloop

    args.dir.mkdir(parents=True, exist_ok=True)
    size = args.mb * 1_000_000
    with tempfile.NamedTemporaryFile(dir=args.dir, suffix=".bin") as blob:
        for offset in range(0, size, BLOCK):
            blob.write(os.urandom(min(BLOCK, size - offset)))
        blob.flush()
        sink = uvloop.run(sink_rates(Path(blob.name), size, args.runs))
    result = {"mb": args.mb, "sink": summary(sink), "disk": summary(disk_rates(args.dir, size, args.runs))}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
