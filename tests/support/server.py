"""The app served for browser tests and benchmarks: `streamlit run` on a free port, and Chromium's flags.

Test support that the benchmarks import too (bench/ may import tests/support, never the reverse).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Debian's Chromium, headless as root, with its background networking off (this machine's network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    started: float  # perf_counter at Popen
    healthy_s: float = 0.0  # Popen -> /_stcore/health answers


@contextlib.contextmanager
def serve(script: Path, db: Path | None, log_path: Path, cwd: Path = ROOT,
          extra_args: tuple[str, ...] = ()) -> Iterator[Server]:
    """`streamlit run script` on a free port over the store db (plus extra server options); yields a Server."""
    port = _free_port()
    env = {**os.environ}
    if db is not None:
        env["CS_DB"] = str(db)
    log = open(log_path, "w")  # noqa: SIM115  (closed in finally, after the process)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", *extra_args],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(proc, f"http://127.0.0.1:{port}", t0)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(srv.url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"streamlit did not start; see {log_path}") from None
                time.sleep(0.05)
        srv.healthy_s = time.perf_counter() - t0
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
