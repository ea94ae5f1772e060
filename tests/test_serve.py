"""``bridgehead serve``: the real server process answers, with its startup objects frozen out of collection."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bridgehead.web.app import freeze_startup_objects

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def test_freezing_takes_the_objects_alive_now_out_of_collection() -> None:
    assert gc.get_freeze_count() == 0
    alive = [[index] for index in range(1000)]  # tracked containers, alive across the freeze
    gc.collect()
    oldest = {id(item) for item in gc.get_objects(generation=2)}
    assert all(id(item) in oldest for item in alive)  # a full collection would walk them
    try:
        # Other threads of a test run may make or free objects meanwhile, so the count is a floor.
        assert freeze_startup_objects() >= len(alive)
        collected = {id(item) for generation in range(3) for item in gc.get_objects(generation=generation)}
        assert not any(id(item) in collected for item in alive)  # no collection walks them now
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bridgehead_serve_answers_on_its_port(tmp_path: Path) -> None:
    env = {**os.environ, "BRIDGEHEAD_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    subprocess.run([BRIDGEHEAD, "init"], env=env, cwd=tmp_path, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [BRIDGEHEAD, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200
        assert "csrf_token" in login.text
    finally:
        server.terminate()
        server.wait(timeout=10)
