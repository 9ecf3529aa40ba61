"""A live server for the browser tests, and Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tinymlaas.app import create_app
from tinymlaas.config import Settings

STARTUP_SECONDS = 30
CHROMIUM = os.environ.get("TINYMLAAS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The URL of the real app served by uvicorn on a free 127.0.0.1 port in a thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert thread.is_alive(), "the server thread stopped during startup"
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer within {STARTUP_SECONDS}s"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=STARTUP_SECONDS)
    listener.close()


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[object]:
    """A fresh Chromium context at 1280×800 (Debian's Chromium; no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()
        browser.close()
