"""The local cloud's and the payment emulator's server (``http_server``): keep-alive, a
pool that grows while requests wait, werkzeug's ``RAW_URI``, and a stop that does not
wait for a request that sleeps."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from payroll_platform.local import http_server
from payroll_platform.local.http_server import LocalHttpServer


def _answer(start_response, body: bytes, status: str = "200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def served():
    servers: list[LocalHttpServer] = []

    def serve(app) -> str:
        server = LocalHttpServer(app, name="test")
        servers.append(server)
        return f"http://127.0.0.1:{server.start()}"

    yield serve
    for server in servers:
        server.stop()


def test_a_session_keeps_its_connection_even_when_the_app_leaves_a_body_unread(served):
    def app(environ, start_response):
        # The client's port: the same one for every request on one connection.
        return _answer(start_response, str(environ["REMOTE_PORT"]).encode())

    url = served(app)
    with requests.Session() as session:
        ports = {session.post(f"{url}/x", data=b"z" * 10_000, timeout=5).text for _ in range(20)}
        ports |= {session.get(f"{url}/y", timeout=5).text for _ in range(20)}
    assert len(ports) == 1


def test_a_waiting_request_does_not_stop_the_others_and_the_pool_grows_only_as_needed(
    served, monkeypatch
):
    monkeypatch.setattr(http_server, "MIN_THREADS", 2)
    go = threading.Event()
    threads: set[str] = set()

    def app(environ, start_response):
        threads.add(threading.current_thread().name)
        if environ["PATH_INFO"] == "/wait":  # like a Lambda invocation waiting for a worker
            go.wait(timeout=10)
        return _answer(start_response, b"ok")

    url = served(app)
    waiting: list[requests.Response] = []
    waiters = [
        threading.Thread(target=lambda: waiting.append(requests.get(f"{url}/wait", timeout=10)))
        for _ in range(4)
    ]
    for waiter in waiters:
        waiter.start()
    with requests.Session() as session:
        for _ in range(30):
            assert session.get(f"{url}/x", timeout=5).text == "ok"
    go.set()
    for waiter in waiters:
        waiter.join(timeout=10)
    assert [response.text for response in waiting] == ["ok"] * 4
    # Four waiting and one asking: more than the two it started with, far fewer than 35.
    assert 5 <= len(threads) <= 8


def test_the_path_as_it_arrived_is_there_for_moto(served):
    def app(environ, start_response):
        return _answer(start_response, f"{environ['RAW_URI']}|{environ['PATH_INFO']}".encode())

    url = served(app)
    raw, decoded = requests.get(f"{url}/bucket/a%2Fb%20c?x=1", timeout=5).text.split("|")
    assert raw == "/bucket/a%2Fb%20c?x=1"
    assert decoded.endswith("b c")  # decoded (cheroot keeps an encoded slash as it came)


def test_the_app_can_be_replaced_while_serving(served):
    server = LocalHttpServer(lambda environ, start_response: _answer(start_response, b"one"))
    url = f"http://127.0.0.1:{server.start()}"
    try:
        with requests.Session() as session:
            assert session.get(url, timeout=5).text == "one"
            server.app = lambda environ, start_response: _answer(start_response, b"two")
            assert session.get(url, timeout=5).text == "two"
    finally:
        server.stop()


def test_stop_does_not_wait_for_a_sleeping_request_and_a_taken_port_is_an_oserror(served):
    def app(environ, start_response):
        time.sleep(20)
        return _answer(start_response, b"late")

    server = LocalHttpServer(app)
    port = server.start()

    def ask() -> None:
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/", timeout=(5, 1))

    sleeper = threading.Thread(target=ask, daemon=True)
    sleeper.start()
    time.sleep(0.2)
    with pytest.raises(OSError):
        LocalHttpServer(app, port=port).start()
    started = time.monotonic()
    server.stop()
    server.stop()  # idempotent
    assert time.monotonic() - started < http_server.SHUTDOWN_TIMEOUT_S + 2
