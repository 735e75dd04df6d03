"""Driving the clinician's assessment panel in a browser: its fields, its steps, and its
socket, passed through Playwright so that a test can hold the page's frames back or cut the
connection as a dropped network does."""

import re

from playwright.sync_api import Page, WebSocketRoute, expect


def field(page: Page, key: str):
    return page.locator(f'[data-key="{key}"]')


def message(page: Page, key: str):
    return page.locator(f'[id="m-{key}"]')


def type_in(page: Page, key: str, value: str) -> None:
    field(page, key).fill(value)
    field(page, key).press("Tab")


def open_step(page: Page, protocol: str) -> None:
    page.locator(f'.step-link[data-step="{protocol}"]').click()
    expect(page.locator(f"#step-{protocol}")).to_be_visible()


class PanelSocket:
    """One page's assessment socket, passed through Playwright.

    In Chromium ``context.set_offline`` stops HTTP and stalls an open WebSocket without closing
    it, so the socket goes through this route: ``off`` closes it on the page's side without a
    close frame (1006), as a dropped network does, and refuses new sockets until ``on``; ``hold``
    keeps the page's frames back (sent, not answered: "saving") until ``release``.
    """

    PATTERN = re.compile(r"/ws/assessments/[0-9a-f-]+/")

    def __init__(self, page: Page) -> None:
        self.page = page
        self.online = True
        self.holding = False
        self.held: list[tuple[WebSocketRoute, str | bytes]] = []
        self.routes: list[WebSocketRoute] = []
        page.route_web_socket(self.PATTERN, self._route)

    def _route(self, route: WebSocketRoute) -> None:
        if not self.online:
            route.close(code=1006, reason="")
            return
        server = route.connect_to_server()
        route.on_message(lambda message: self._from_page(server, message))
        self.routes.append(route)

    def _from_page(self, server: WebSocketRoute, message: str | bytes) -> None:
        if self.holding:
            self.held.append((server, message))
        else:
            server.send(message)

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        self.holding = False
        for server, message in self.held:
            server.send(message)
        self.held.clear()

    def off(self, *, http: bool) -> None:
        """The page loses the server: its socket, and with ``http`` every request of its
        browser context (the other tabs' open sockets stall too)."""
        if http:
            self.page.context.set_offline(True)
        self.online = False
        for route in self.routes:
            route.close(code=1006, reason="")
        self.routes.clear()
        expect(self.page.locator("#assessment")).not_to_have_attribute("data-connection", "open")

    def on(self, *, socket: bool = True, wait: bool = False) -> None:
        """The network is back (HTTP, and the socket unless ``socket`` is false); with ``wait``,
        until the page's socket is open again."""
        self.page.context.set_offline(False)
        if socket:
            self.online = True
        if wait:
            expect(self.page.locator("#assessment")).to_have_attribute(
                "data-connection", "open", timeout=20_000
            )
