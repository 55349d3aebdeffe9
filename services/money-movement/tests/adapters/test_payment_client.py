"""PaymentClient against a real HTTP server on loopback: timeouts, retries, idempotency key.

A tiny scripted server answers each POST with the next scripted response and records
what it received, so each test sees exactly what went over the wire.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from money_movement.adapters import PaymentClient
from money_movement.logic import (
    IdempotencyConflict,
    PaymentError,
    PaymentInstruction,
    PaymentStatus,
    PaymentUnavailable,
)

INSTRUCTION = PaymentInstruction(
    pay_run_id="pr-weekly-2025-01-03",
    employee_id="emp-001",
    amount=Decimal("1234.50"),
    account_token="tok_alice_0001",
)
ACCEPTED = {"payment_id": "pay_1", "status": "accepted"}


@dataclass
class Scripted:
    """One scripted answer: status, JSON body, headers, and a delay before answering."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class ScriptedServer:
    def __init__(self, script: list[Scripted]) -> None:
        self.script = list(script)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with server.lock:
                    server.received.append(
                        Received(self.path, dict(self.headers.items()), json.loads(raw or b"null"))
                    )
                    answer = server.script.pop(0) if server.script else Scripted(500, {})
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a read timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(*script: Scripted) -> ScriptedServer:
        server = ScriptedServer(list(script)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def client(url: str, **overrides: Any) -> PaymentClient:
    options: dict[str, Any] = {"backoff_factor": 0.01, "read_timeout": 2.0}
    options.update(overrides)
    return PaymentClient(url, **options)


def test_posts_the_payment_with_its_idempotency_key(serve: Any) -> None:
    server = serve(Scripted(201, ACCEPTED))
    with client(server.url) as payments:
        result = payments.pay(INSTRUCTION)

    assert result.status is PaymentStatus.ACCEPTED
    assert (result.payment_id, result.replayed) == ("pay_1", False)
    assert result.reference == "pr-weekly-2025-01-03/emp-001"
    (request,) = server.received
    assert request.path == "/v1/payments"
    assert request.headers["Idempotency-Key"] == "pr-weekly-2025-01-03:emp-001"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {
        "amount": "1234.50",
        "currency": "USD",
        "account_token": "tok_alice_0001",
        "reference": "pr-weekly-2025-01-03/emp-001",
    }


def test_no_credentials_from_netrc(
    serve: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A .netrc naming the payment API's host: requests would send its login as Basic
    # auth (looking the file up for every payment); the payment API gets none.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server = serve(Scripted(201, ACCEPTED))
    with client(server.url) as payments:
        assert payments.pay(INSTRUCTION).status is PaymentStatus.ACCEPTED
    (request,) = server.received
    assert "Authorization" not in request.headers


def test_retries_5xx_with_the_same_key_and_body(serve: Any) -> None:
    server = serve(Scripted(500, {}), Scripted(503, {}), Scripted(201, ACCEPTED))
    with client(server.url) as payments:
        result = payments.pay(INSTRUCTION)

    assert result.status is PaymentStatus.ACCEPTED
    assert len(server.received) == 3
    assert {r.headers["Idempotency-Key"] for r in server.received} == {
        "pr-weekly-2025-01-03:emp-001"
    }
    assert len({json.dumps(r.body, sort_keys=True) for r in server.received}) == 1


def test_a_replayed_answer_is_the_same_payment(serve: Any) -> None:
    server = serve(Scripted(502, {}), Scripted(200, ACCEPTED, {"Idempotent-Replayed": "true"}))
    with client(server.url) as payments:
        result = payments.pay(INSTRUCTION)
    assert (result.payment_id, result.replayed) == ("pay_1", True)


def test_gives_up_after_the_retries(serve: Any) -> None:
    server = serve(*[Scripted(500, {"error": {"code": "internal_error"}})] * 4)
    with client(server.url, retries=3) as payments, pytest.raises(PaymentUnavailable, match="500"):
        payments.pay(INSTRUCTION)
    assert len(server.received) == 4


def test_retries_a_read_timeout(serve: Any) -> None:
    # The first answer is lost to the client's read timeout; the key makes the retry safe.
    server = serve(Scripted(201, ACCEPTED, delay=1.0), Scripted(200, ACCEPTED))
    with client(server.url, read_timeout=0.3) as payments:
        result = payments.pay(INSTRUCTION)
    assert result.payment_id == "pay_1"
    assert len(server.received) == 2


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    with (
        client(f"http://127.0.0.1:{port}", retries=2) as payments,
        pytest.raises(PaymentUnavailable, match="unreachable"),
    ):
        payments.pay(INSTRUCTION)


def test_a_decline_is_an_outcome_not_a_retry(serve: Any) -> None:
    server = serve(
        Scripted(
            402,
            {"error": {"code": "account_invalid", "message": "declined", "payment_id": "pay_9"}},
        )
    )
    with client(server.url) as payments:
        result = payments.pay(INSTRUCTION)
    assert result.status is PaymentStatus.DECLINED
    assert (result.error_code, result.payment_id) == ("account_invalid", "pay_9")
    assert len(server.received) == 1


def test_key_reuse_with_another_body_is_a_conflict(serve: Any) -> None:
    server = serve(Scripted(422, {"error": {"code": "idempotency_key_reuse", "message": "no"}}))
    with client(server.url) as payments, pytest.raises(IdempotencyConflict):
        payments.pay(INSTRUCTION)
    assert len(server.received) == 1


def test_an_invalid_request_is_not_retried(serve: Any) -> None:
    server = serve(
        Scripted(400, {"error": {"code": "invalid_request", "field": "amount", "message": "bad"}})
    )
    with client(server.url) as payments, pytest.raises(PaymentError) as raised:
        payments.pay(INSTRUCTION)
    assert (raised.value.code, raised.value.status) == ("invalid_request", 400)
    assert len(server.received) == 1


def test_respects_retry_after_on_429(serve: Any) -> None:
    server = serve(Scripted(429, {}, {"Retry-After": "0"}), Scripted(201, ACCEPTED))
    with client(server.url) as payments:
        assert payments.pay(INSTRUCTION).status is PaymentStatus.ACCEPTED
    assert len(server.received) == 2


def test_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        PaymentClient("http://payments.example.com")
