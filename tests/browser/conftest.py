"""A live server on a small demo organisation, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from bridgehead.config import Settings
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.demo import DEMO_PASSWORD, DemoLogin, demo_logins, load_demo
from bridgehead.migrate import upgrade_database
from bridgehead.web.app import create_app

REQUIRE_BROWSER = os.environ.get("BRIDGEHEAD_REQUIRE_BROWSER") == "1"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@dataclass(frozen=True)
class LiveServer:
    """A running app: where it listens, its database, and the demo logins in it."""

    base_url: str
    database_url: str
    logins: dict[str, DemoLogin]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Uvicorn in a thread, serving a SQLite file holding a small demo organisation."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.db'}"
    settings = Settings(
        database_url=database_url, secret_key="browser-test-secret", organisation_name="Meridian Cloud"
    )
    engine = make_engine(settings)
    upgrade_database(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        load_demo(session, scale=0.3, seed=11)
    with unit_of_work(make_session_factory(engine)) as session:
        logins = {login.note: login for login in demo_logins(session)}
    engine.dispose()

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(base_url=f"http://127.0.0.1:{port}", database_url=database_url, logins=logins)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    executable = shutil.which("chromium")
    if executable is None:
        reason = "Chromium is not installed (apt-get install -y chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(reason + " and BRIDGEHEAD_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at laptop size."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, server: LiveServer, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login form."""
    page.goto(server.base_url + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot for a person to look at."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
