"""Headless chromium over the DevTools protocol, for tests (Debian's `chromium`; tornado's
websocket client, no extra package): `Browser.visit(url)` loads a page and returns its facts,
`Browser.page(url)` gives a `Page` to evaluate JavaScript in and wait on (JupyterLab)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

FACTS = """JSON.stringify({
    title: document.title,
    text: document.body ? document.body.innerText.length : 0,
    headings: Array.from(document.querySelectorAll('h1,h2,h3')).map(h => h.innerText),
    images: Array.from(document.images).map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
    links: Array.from(document.links).map(a => a.href),
    tables: document.querySelectorAll('table').length,
    styled: getComputedStyle(document.body).fontFamily})"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):  # CI's set-up installs it: a missing browser there is a failure, not a skip
        pytest.fail("no chromium on the CI machine: scripts/setup.sh should have installed Debian's chromium")
    pytest.skip("no chromium on this machine: the browser test needs Debian's `chromium` package "
                "(apt-get install -y chromium); CI installs it")


class Page:
    """One DevTools connection to a page target: commands, events, JavaScript."""

    def __init__(self, websocket_url: str):
        from tornado.websocket import websocket_connect

        async def connect():  # inside the loop: tornado binds the connection to the running loop
            return await websocket_connect(websocket_url, max_message_size=64 << 20)

        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(connect())
        self.counter = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        return self.loop.run_until_complete(self._call(method, timeout, params))

    async def _call(self, method: str, timeout: float, params: dict) -> dict:
        self.counter += 1
        ident = self.counter
        self.connection.write_message(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.connection.read_message(), timeout))
            if "method" in message:
                self.events.append(message)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str, timeout: float = 60):
        """The value of a JavaScript expression (promises awaited); JavaScript errors raise."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error in {expression[:80]!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60, interval: float = 0.25):
        """Poll until the expression is truthy; return its value (TimeoutError after `timeout` s)."""
        deadline = time.time() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.time() > deadline:
                raise TimeoutError(f"waited {timeout} s for {expression[:120]!r}")
            time.sleep(interval)

    def load(self, url: str, timeout: float = 60) -> bool:
        """Navigate and wait for the load event; True if it fired in time."""
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Emulation.setFocusEmulationEnabled", enabled=True)  # headless: focus follows the page
        self.call("Page.navigate", url=url)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e["method"] == "Page.loadEventFired" for e in self.events):
                return True
            self.call("Runtime.evaluate", expression="1")
            time.sleep(0.1)
        return False

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        self.connection.close()
        self.loop.close()


class Browser:
    """Headless chromium with a fresh profile; `visit` and `page` open its first tab."""

    def __init__(self, profile: Path, window: str = "1400,1000"):
        self.process = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
             f"--window-size={window}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.time() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        for _ in range(100):
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list").read())
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            time.sleep(0.1)
        self.url = pages[0]["webSocketDebuggerUrl"]

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def page(self, url: str | None = None, timeout: float = 60) -> Page:
        page = Page(self.url)
        if url:
            page.load(url, timeout)
        return page

    def visit(self, url: str) -> dict:
        """Load `url`; return the page's facts and every URL it requested."""
        page = Page(self.url)
        try:
            loaded = page.load(url)
            facts = json.loads(page.evaluate(FACTS))
            return {**facts, "loaded": loaded, "requests": page.requests()}
        finally:
            page.close()
