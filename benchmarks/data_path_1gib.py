"""Upload and download 1 GiB through the local store's signed URLs; compare with the disk's own write speed.

    python benchmarks/data_path_1gib.py [--size-mib 1024] [--work-dir DIR]

Starts `mlregistry serve` (one worker process, SQLite, local storage) on 127.0.0.1, stages an artifact
version, PUTs one 1 GiB file to its signed URL with curl (a client that is not the bottleneck),
finalizes it, and GETs it back. Reports throughput, the server's peak RSS (VmHWM), and the speed of
writing the same amount straight to the same disk (8 MiB blocks + fsync, as the server does), measured
just before and just after each upload because a shared virtual disk's speed drifts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BLOCK = 8 * 1024 * 1024
MIB = 1024 * 1024
TOKEN = "benchmark-bootstrap-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        written = 0
        while written < size:
            block = os.urandom(min(BLOCK, size - written))
            digest.update(block)
            handle.write(block)
            written += len(block)
    return digest.hexdigest()


def disk_write_speed(path: Path, size: int) -> float:
    """MiB/s of writing `size` bytes to `path` in 8 MiB blocks, fsync included."""
    block = os.urandom(BLOCK)
    start = time.perf_counter()
    with path.open("wb") as handle:
        written = 0
        while written < size:
            chunk = block if size - written >= BLOCK else block[: size - written]
            handle.write(chunk)
            written += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return size / MIB / elapsed


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def timed_curl(arguments: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", *arguments], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(size: int, work: Path, rounds_count: int) -> dict[str, object]:
    source = work / "source.bin"
    print(f"writing a {size // MIB} MiB source file ...", file=sys.stderr)
    expected_sha256 = make_source(source, size)
    data_dir = work / "data"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "MLREGISTRY_DATA_DIR": str(data_dir),
        "MLREGISTRY_SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123456789",
        "MLREGISTRY_BOOTSTRAP_TOKEN": TOKEN,
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from mlregistry.cli import main; main()", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(work / "server.log").open("wb"),
    )
    try:
        client = httpx.Client(base_url=f"{url}/api/ml/v1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start:\n" + (work / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        idle_rss = peak_rss_mib(server.pid)

        manifest = {"type": "ml-repo", "name": "bench-repo", "storage_integration_fqn": "default"}
        client.put("/ml-repos", json={"manifest": manifest}).raise_for_status()
        rounds = []
        for number in range(1, rounds_count + 1):
            print(f"round {number}/{rounds_count} ...", file=sys.stderr)
            disk_before = disk_write_speed(work / "disk-probe.bin", size)
            measured = upload_and_download(client, source, size, expected_sha256)
            disk_after = disk_write_speed(work / "disk-probe.bin", size)
            disk = (disk_before + disk_after) / 2
            rounds.append(
                {
                    **measured,
                    "disk_write_mib_s": round(disk, 1),
                    "upload_vs_disk": round(measured["upload_mib_s"] / disk, 3),
                }
            )
        peak_rss = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    return {
        "size_mib": size // MIB,
        "rounds": rounds,
        "median_upload_vs_disk": statistics.median(item["upload_vs_disk"] for item in rounds),
        "server_idle_rss_mib": round(idle_rss, 1),
        "server_peak_rss_mib": round(peak_rss, 1),
    }


def upload_and_download(client: httpx.Client, source: Path, size: int, expected_sha256: str) -> dict[str, Any]:
    """One staged version: PUT the file to its signed URL, finalize, GET it back, delete the version."""
    version_manifest: dict[str, Any] = {
        "name": "one-gib",
        "metadata": {},
        "ml_repo": "bench-repo",
        "type": "artifact-version",
        "source": {"type": "truefoundry"},
    }
    staged = client.post("/artifact-versions/stage", json={"manifest": version_manifest}).json()
    signed = client.post(
        "/artifact-versions/signed-urls", json={"id": staged["id"], "paths": ["big.bin"], "operation": "WRITE"}
    ).json()["data"][0]["signed_url"]
    upload_seconds = timed_curl(["-T", str(source), signed])
    version_manifest["source"] = {"type": "truefoundry", "uri": staged["storage_root"]}
    start = time.perf_counter()
    client.put("/artifact-versions", json={"manifest": version_manifest}).raise_for_status()
    finalize_seconds = time.perf_counter() - start
    files = client.post("/artifact-versions/files", json={"id": staged["id"], "path": ""}).json()["data"]
    read = client.post(
        "/artifact-versions/signed-urls", json={"id": staged["id"], "paths": ["big.bin"], "operation": "READ"}
    ).json()["data"][0]["signed_url"]
    download_seconds = timed_curl(["-o", "/dev/null", read])
    client.delete(f"/artifact-versions/{staged['id']}").raise_for_status()
    return {
        "upload_mib_s": round(size / MIB / upload_seconds, 1),
        "download_mib_s": round(size / MIB / download_seconds, 1),
        "finalize_seconds": round(finalize_seconds, 3),
        "sha256_matches": files[0]["sha256"] == expected_sha256 and files[0]["file_size"] == size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument(
        "--rounds", type=int, default=3, help="Upload/download rounds (the disk is measured around each)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="On the disk to measure (default: a temp dir)")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlregistry-bench-", dir=arguments.work_dir))
    try:
        print(json.dumps(run(arguments.size_mib * MIB, work, arguments.rounds), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
