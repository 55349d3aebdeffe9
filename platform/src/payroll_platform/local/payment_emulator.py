"""Payment provider emulator: the external payment system of the local cloud.

An HTTP/JSON API served on loopback in a background thread. It keeps every payment it
made (or declined) in a SQLite file, honours ``Idempotency-Key`` headers the way Stripe
does, and can inject faults (5xx, timeouts before or after the payment was made) so the
payment client's retries can be tested against a provider that misbehaves on purpose.

API
---
``POST /v1/payments``
    Body ``{"amount": "123.45", "currency": "USD", "account_token": "tok_...",
    "reference": "<pay_run_id>/<employee_id>", "metadata": {...}}`` (``metadata``
    optional, no other fields allowed) and header ``Idempotency-Key`` (required).

    * 201 new payment ``{"payment_id": "pay_...", "status": "accepted", "amount",
      "currency", "reference", "account_token", "metadata", "idempotency_key",
      "created_at"}``.
    * 200 with header ``Idempotent-Replayed: true``: the same key with the same body
      returns the original body (same ``payment_id``).
    * 402 ``{"error": {"code": "account_invalid", ...}}`` for a token starting with
      ``tok_invalid``; the decline is recorded and replayed (402 again) for the key.
    * 422 ``{"error": {"code": "idempotency_key_reuse", ...}}``: same key, other body.
    * 400 ``{"error": {"code": "invalid_request", "field": ..., "message": ...}}``.
      Invalid requests record nothing and consume no fault.
``GET /v1/payments/<payment_id>``, ``GET /v1/payments[?reference=...][&idempotency_key=...]``
    A payment resource (404 if unknown) / ``{"data": [...]}`` in creation order.
``GET /v1/health``
    ``{"status": "ok", "payments": <count>}``.
``POST /v1/_faults``, ``GET /v1/_faults``, ``DELETE /v1/_faults``
    Configure / show / clear fault injection. Body ``{"seed": int, "rates": {kind: p},
    "delay_s": float, "script": [outcome, ...]}`` (all optional; a POST replaces the
    whole configuration). Kinds: ``error_500`` (500, nothing recorded),
    ``timeout_before`` (sleep ``delay_s`` then 504, nothing recorded),
    ``accept_then_timeout`` (record durably, then sleep ``delay_s`` before the normal
    answer), ``accept_then_500`` (record, then answer 500). ``script`` is a queue of
    outcomes (the kinds or ``"ok"``) consumed in order by the next valid
    ``POST /v1/payments`` requests (replays included); when it is empty, the outcome is
    drawn from ``rates`` with ``random.Random(seed)``, so runs are reproducible.
``GET /v1/_faults/stats``, ``DELETE /v1/_faults/stats``
    ``{kind: count}`` of faults injected since start (or the last reset).
``PUT /v1/_faults/idempotency``
    Body ``{"ignore_keys": true}``: a provider that ignores ``Idempotency-Key`` (every
    request a new payment), to prove a chaos run's check can fail; ``false`` restores it.

``PaymentEmulator`` serves it from a thread of the calling process (the tests);
``PaymentEmulatorProcess`` from a process of its own (the local cloud), as the real
provider is: its requests do not wait for the local cloud's interpreter lock.

Every amount is a decimal string with exactly two decimals, in the API and in the file.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import queue
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from payroll_platform.local.http_server import LocalHttpServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "FAULT_KINDS",
    "SCRIPT_OUTCOMES",
    "PaymentEmulator",
    "main",
    "read_payments",
    "read_totals_by_reference",
]

FAULT_KINDS: Final = ("error_500", "timeout_before", "accept_then_timeout", "accept_then_500")
SCRIPT_OUTCOMES: Final = ("ok", *FAULT_KINDS)
DEFAULT_DELAY_S: Final = 2.0
MAX_DELAY_S: Final = 60.0

_AMOUNT_RE: Final = re.compile(r"(?:0|[1-9][0-9]{0,14})\.[0-9]{2}")
_CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
_TOKEN_RE: Final = re.compile(r"tok_[A-Za-z0-9_\-]{1,200}")
_REFERENCE_RE: Final = re.compile(r"[^/\s]{1,120}/[^/\s]{1,120}")
_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")
_BODY_FIELDS: Final = frozenset({"amount", "currency", "account_token", "reference", "metadata"})
_FAULT_FIELDS: Final = frozenset({"seed", "rates", "delay_s", "script"})
_MAX_BODY_BYTES: Final = 1_000_000

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    amount TEXT NOT NULL CHECK (typeof(amount) = 'text'),
    currency TEXT NOT NULL,
    account_token TEXT NOT NULL,
    reference TEXT NOT NULL,
    metadata TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    error_code TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_reference ON payments (reference);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    idempotency_key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (payment_id),
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
_PAYMENT_COLUMNS: Final = (
    "payment_id, status, amount, currency, account_token, reference, metadata, "
    "idempotency_key, error_code, created_at"
)


class InvalidRequestError(ValueError):
    """A request the emulator refuses with 400 ``invalid_request``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------- storage


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(db_path), timeout=10.0, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    # As the local ledger's: in WAL mode a commit survives the process being killed; only
    # the machine crashing could lose the last ones. FULL waited for the disk on every
    # payment (about 1 ms each, one payment at a time: MoneyMovement's critical path).
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _ensure_schema(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(db_path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
    finally:
        conn.close()


def _row_to_payment(row: sqlite3.Row) -> dict[str, Any]:
    payment = dict(row)
    payment["metadata"] = json.loads(payment["metadata"])
    return payment


def _payment_resource(payment: Mapping[str, Any]) -> dict[str, Any]:
    """The API view of a stored payment."""
    return {k: v for k, v in payment.items() if k != "error_code"}


def read_payments(db_path: Path) -> list[dict[str, Any]]:
    """Every payment recorded in an emulator's file (accepted and rejected), oldest first.

    Reads the file directly with its own connection, so it works whether or not an
    emulator (in this process or another one) is serving it. ``amount`` is the stored
    decimal string; ``status`` is ``"accepted"`` or ``"rejected"``.
    """
    if not Path(db_path).exists():
        return []
    conn = _connect(Path(db_path))
    try:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'payments'"
        ).fetchone()
        if has_table is None:
            return []
        rows = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments ORDER BY seq").fetchall()  # noqa: S608
        return [_row_to_payment(row) for row in rows]
    finally:
        conn.close()


def read_totals_by_reference(db_path: Path) -> dict[str, Decimal]:
    """Sum of accepted amounts per reference (``<pay_run_id>/<employee_id>``)."""
    totals: dict[str, Decimal] = {}
    for payment in read_payments(db_path):
        if payment["status"] == "accepted":
            ref = payment["reference"]
            totals[ref] = totals.get(ref, Decimal("0.00")) + Decimal(payment["amount"])
    return totals


@dataclass(frozen=True)
class _Recorded:
    status: int
    body: dict[str, Any]
    replayed: bool


class _EmulatorStoppedError(RuntimeError):
    pass


class _Store:
    """The emulator's SQLite file: one connection, one lock, explicit transactions."""

    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = _connect(db_path)

    @property
    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise _EmulatorStoppedError("the payment emulator is stopped")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def record(
        self, key: str, request_hash: str, payment: Mapping[str, Any], status: int
    ) -> _Recorded | None:
        """Insert a payment and its key atomically, or return what the key already holds.

        Returns ``None`` when the key exists with another request hash (key reuse).
        """
        if payment["status"] == "accepted":
            body: dict[str, Any] = _payment_resource(payment)
        else:
            body = {
                "error": {
                    "code": payment["error_code"],
                    "message": "the account token was declined by the bank",
                    "payment_id": payment["payment_id"],
                }
            }
        with self._lock:
            conn = self._open
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT request_hash, response_status, response_body"
                    " FROM idempotency_keys WHERE idempotency_key = ?",
                    (key,),
                ).fetchone()
                if row is not None:
                    conn.execute("ROLLBACK")
                    if row["request_hash"] != request_hash:
                        return None
                    return _Recorded(
                        int(row["response_status"]), json.loads(row["response_body"]), True
                    )
                conn.execute(
                    f"INSERT INTO payments ({_PAYMENT_COLUMNS})"  # noqa: S608
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        payment["payment_id"],
                        payment["status"],
                        payment["amount"],
                        payment["currency"],
                        payment["account_token"],
                        payment["reference"],
                        json.dumps(payment["metadata"], sort_keys=True),
                        key,
                        payment["error_code"],
                        payment["created_at"],
                    ),
                )
                conn.execute(
                    "INSERT INTO idempotency_keys (idempotency_key, request_hash, payment_id,"
                    " response_status, response_body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        request_hash,
                        payment["payment_id"],
                        status,
                        json.dumps(body, sort_keys=True),
                        payment["created_at"],
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return _Recorded(status, body, False)

    def get(self, payment_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._open.execute(
                f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_id = ?",  # noqa: S608
                (payment_id,),
            ).fetchone()
        return None if row is None else _row_to_payment(row)

    def list(self, reference: str | None, key: str | None) -> list[dict[str, Any]]:
        sql = f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE 1 = 1"  # noqa: S608
        params: list[str] = []
        if reference is not None:
            sql += " AND reference = ?"
            params.append(reference)
        if key is not None:
            sql += " AND idempotency_key = ?"
            params.append(key)
        with self._lock:
            rows = self._open.execute(sql + " ORDER BY seq", params).fetchall()
        return [_row_to_payment(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._open.execute("SELECT COUNT(*) FROM payments").fetchone()[0])


# ---------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    rates: Mapping[str, float] | None = None
    delay_s: float = DEFAULT_DELAY_S
    script: Sequence[str] = ()


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(field, "must be a number")
    return float(value)


def parse_fault_config(body: Any) -> FaultConfig:
    """Validate a ``POST /v1/_faults`` body."""
    if not isinstance(body, dict):
        raise InvalidRequestError("body", "must be a JSON object")
    unknown = sorted(set(body) - _FAULT_FIELDS)
    if unknown:
        raise InvalidRequestError(unknown[0], "unknown field")
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidRequestError("seed", "must be an integer")
    raw_rates = body.get("rates", {})
    if not isinstance(raw_rates, dict):
        raise InvalidRequestError("rates", "must be an object of fault kind -> probability")
    rates: dict[str, float] = {}
    for kind, value in raw_rates.items():
        field = f"rates.{kind}"
        if kind not in FAULT_KINDS:
            raise InvalidRequestError(field, f"unknown fault kind; one of {list(FAULT_KINDS)}")
        rate = _number(value, field)
        if not 0.0 <= rate <= 1.0:
            raise InvalidRequestError(field, "must be between 0 and 1")
        rates[kind] = rate
    if sum(rates.values()) > 1.0 + 1e-9:
        raise InvalidRequestError("rates", "the rates add up to more than 1")
    delay_s = _number(body.get("delay_s", DEFAULT_DELAY_S), "delay_s")
    if not 0.0 <= delay_s <= MAX_DELAY_S:
        raise InvalidRequestError("delay_s", f"must be between 0 and {MAX_DELAY_S}")
    script = body.get("script", [])
    if not isinstance(script, list):
        raise InvalidRequestError("script", "must be a list of outcomes")
    for index, outcome in enumerate(script):
        if outcome not in SCRIPT_OUTCOMES:
            raise InvalidRequestError(
                f"script[{index}]", f"unknown outcome; one of {list(SCRIPT_OUTCOMES)}"
            )
    return FaultConfig(seed=seed, rates=rates, delay_s=delay_s, script=tuple(script))


class _FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._script: deque[str] = deque()
        self._stats = dict.fromkeys(FAULT_KINDS, 0)

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._script = deque(config.script)

    def clear(self) -> None:
        self.configure(FaultConfig())

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self._config.seed,
                "rates": dict(self._config.rates or {}),
                "delay_s": self._config.delay_s,
                "script_remaining": list(self._script),
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = dict.fromkeys(FAULT_KINDS, 0)

    def next_outcome(self) -> tuple[str, float]:
        """The outcome for the next payment request: the script first, then the rates."""
        with self._lock:
            if self._script:
                outcome = self._script.popleft()
            else:
                outcome = "ok"
                rates = self._config.rates or {}
                if any(rates.values()):
                    draw = self._rng.random()
                    cumulative = 0.0
                    for kind in FAULT_KINDS:
                        cumulative += rates.get(kind, 0.0)
                        if draw < cumulative:
                            outcome = kind
                            break
            if outcome != "ok":
                self._stats[outcome] += 1
            return outcome, self._config.delay_s


# ---------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _PaymentRequest:
    amount: str
    currency: str
    account_token: str
    reference: str
    metadata: dict[str, Any]

    def fingerprint(self) -> str:
        canonical = json.dumps(
            {
                "amount": self.amount,
                "currency": self.currency,
                "account_token": self.account_token,
                "reference": self.reference,
                "metadata": self.metadata,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _required_str(body: Mapping[str, Any], field: str) -> str:
    if field not in body:
        raise InvalidRequestError(field, "is required")
    value = body[field]
    if not isinstance(value, str):
        raise InvalidRequestError(field, "must be a string")
    return value


def parse_payment_request(body: Any) -> _PaymentRequest:
    if not isinstance(body, dict):
        raise InvalidRequestError("body", "must be a JSON object")
    unknown = sorted(set(body) - _BODY_FIELDS)
    if unknown:
        raise InvalidRequestError(unknown[0], "unknown field")
    amount = _required_str(body, "amount")
    if not _AMOUNT_RE.fullmatch(amount):
        raise InvalidRequestError(
            "amount", f"must be a decimal string with exactly two decimals, got {amount!r}"
        )
    if Decimal(amount) <= 0:
        raise InvalidRequestError("amount", f"must be greater than zero, got {amount!r}")
    currency = _required_str(body, "currency")
    if not _CURRENCY_RE.fullmatch(currency):
        raise InvalidRequestError("currency", "must be a three-letter ISO 4217 code")
    account_token = _required_str(body, "account_token")
    if not _TOKEN_RE.fullmatch(account_token):
        raise InvalidRequestError("account_token", "must be a token like 'tok_...'")
    reference = _required_str(body, "reference")
    if not _REFERENCE_RE.fullmatch(reference):
        raise InvalidRequestError("reference", "must be '<pay_run_id>/<employee_id>'")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidRequestError("metadata", "must be an object")
    return _PaymentRequest(amount, currency, account_token, reference, metadata)


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return _json({"error": {"code": code, "message": message, **extra}}, status)


def _json(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, sort_keys=True),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def _invalid(exc: InvalidRequestError) -> Response:
    return _error(400, "invalid_request", exc.message, field=exc.field)


def _read_json(request: Request) -> Any:
    data = request.get_data(cache=False)
    if not data:
        raise InvalidRequestError("body", "a JSON body is required")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidRequestError("body", f"not valid JSON: {exc}") from exc


# ---------------------------------------------------------------------------- server


_ROUTES: Final = Map(
    [
        Rule("/v1/health", endpoint="health", methods=["GET"]),
        Rule("/v1/payments", endpoint="create_payment", methods=["POST"]),
        Rule("/v1/payments", endpoint="list_payments", methods=["GET"]),
        Rule("/v1/payments/<payment_id>", endpoint="get_payment", methods=["GET"]),
        Rule("/v1/_faults", endpoint="set_faults", methods=["POST"]),
        Rule("/v1/_faults", endpoint="get_faults", methods=["GET"]),
        Rule("/v1/_faults", endpoint="clear_faults", methods=["DELETE"]),
        Rule("/v1/_faults/stats", endpoint="fault_stats", methods=["GET"]),
        Rule("/v1/_faults/stats", endpoint="reset_fault_stats", methods=["DELETE"]),
        Rule("/v1/_faults/idempotency", endpoint="set_idempotency", methods=["PUT"]),
    ]
)


class _Provider(ABC):
    """What both ways of serving the emulator share: the URL while it runs, ``with``,
    and the payments read from its file (the truth). Each way starts, stops and sets
    its faults its own way."""

    db_path: Path
    _url: str | None

    @abstractmethod
    def start(self) -> str:
        """Serve; the base URL."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving (idempotent)."""

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the payment emulator is not running; call start() first")
        return self._url

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_faults(
        self,
        *,
        seed: int = 0,
        rates: Mapping[str, float] | None = None,
        delay_s: float = DEFAULT_DELAY_S,
        script: Sequence[str] = (),
    ) -> None:
        """Configure fault injection, as ``POST /v1/_faults`` does."""
        self._configure_faults(
            {"seed": seed, "rates": dict(rates or {}), "delay_s": delay_s, "script": list(script)}
        )

    @abstractmethod
    def _configure_faults(self, config: dict[str, Any]) -> None:
        """Validate ``config`` (a ``POST /v1/_faults`` body) and inject faults by it."""

    def payments(self) -> list[dict[str, Any]]:
        """Every recorded payment, accepted and rejected, oldest first (see ``read_payments``)."""
        return read_payments(self.db_path)

    def totals_by_reference(self) -> dict[str, Decimal]:
        """Accepted amounts summed per reference."""
        return read_totals_by_reference(self.db_path)


class PaymentEmulator(_Provider):
    """The payment provider, served on loopback from a background thread.

    >>> with PaymentEmulator(tmp_path / "payments.sqlite") as emulator:  # doctest: +SKIP
    ...     requests.post(f"{emulator.url}/v1/payments", json=..., headers=...)
    """

    def __init__(
        self,
        db_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the payment emulator binds to loopback only, not {host!r}")
        self.db_path = Path(db_path)
        self.host = host
        self.port = port
        self._log_requests = log_requests
        self._faults = _FaultInjector()
        #: A provider that ignores ``Idempotency-Key`` (every request is a new payment):
        #: the protection switched off, to prove a chaos run's check can fail.
        self.ignore_idempotency_keys = False
        self._stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._server: LocalHttpServer | None = None
        self._store: _Store | None = None
        self._url: str | None = None
        _ensure_schema(self.db_path)

    # -- lifecycle

    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (``http://127.0.0.1:N``)."""
        with self._state_lock:
            if self._server is not None:
                raise RuntimeError("the payment emulator is already running")
            self._stopping.clear()
            self._store = _Store(self.db_path)
            # Keep-alive (``http_server``): MoneyMovement's pooled connections are reused.
            server = LocalHttpServer(
                self._wsgi_app,
                self.host,
                self.port,
                log_requests=self._log_requests,
                name="payment-emulator",
            )
            try:
                port = server.start()
            except OSError as exc:
                self._store.close()
                self._store = None
                raise OSError(f"cannot bind {self.host}:{self.port}") from exc
            self._server = server
            self._url = f"http://{_url_host(self.host)}:{port}"
            return self._url

    def stop(self) -> None:
        """Stop serving (idempotent). Requests sleeping on an injected delay wake up."""
        with self._state_lock:
            server, store = self._server, self._store
            self._server = self._store = None
            self._url = None
            self._stopping.set()
        if server is not None:
            server.stop()
        if store is not None:
            store.close()

    # -- faults, in process (same semantics as the HTTP endpoints)

    def _configure_faults(self, config: dict[str, Any]) -> None:
        self._faults.configure(parse_fault_config(config))

    def clear_faults(self) -> None:
        self._faults.clear()

    def fault_stats(self) -> dict[str, int]:
        return self._faults.stats()

    def reset_fault_stats(self) -> None:
        self._faults.reset_stats()

    # -- HTTP

    def _wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = _MAX_BODY_BYTES
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        try:
            endpoint, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            code = exc.code or 500
            name = "method_not_allowed" if code == 405 else "not_found" if code == 404 else "http"
            return _error(code, name, exc.description or exc.name)
        try:
            return self._handle(str(endpoint), request, args)
        except InvalidRequestError as exc:
            return _invalid(exc)
        except HTTPException as exc:  # e.g. body too large
            return _error(exc.code or 400, "invalid_request", exc.description or exc.name)
        except _EmulatorStoppedError as exc:
            return _error(503, "unavailable", str(exc))

    def _handle(self, endpoint: str, request: Request, args: Mapping[str, Any]) -> Response:
        store = self._store
        if store is None:
            raise _EmulatorStoppedError("the payment emulator is stopped")
        if endpoint == "create_payment":
            return self._create_payment(store, request)
        if endpoint == "get_payment":
            payment = store.get(str(args["payment_id"]))
            if payment is None:
                return _error(404, "not_found", f"no payment {args['payment_id']!r}")
            return _json(_payment_resource(payment), 200)
        if endpoint == "list_payments":
            rows = store.list(request.args.get("reference"), request.args.get("idempotency_key"))
            return _json({"data": [_payment_resource(p) for p in rows]}, 200)
        if endpoint == "health":
            return _json({"status": "ok", "payments": store.count()}, 200)
        if endpoint == "set_faults":
            self._faults.configure(parse_fault_config(_read_json(request)))
            return _json(self._faults.describe(), 200)
        if endpoint == "get_faults":
            return _json(self._faults.describe(), 200)
        if endpoint == "clear_faults":
            self._faults.clear()
            return _json(self._faults.describe(), 200)
        if endpoint == "fault_stats":
            return _json(self._faults.stats(), 200)
        if endpoint == "reset_fault_stats":
            self._faults.reset_stats()
            return _json(self._faults.stats(), 200)
        if endpoint == "set_idempotency":
            body = _read_json(request)
            ignore = body.get("ignore_keys") if isinstance(body, dict) else None
            if not isinstance(ignore, bool) or set(body) != {"ignore_keys"}:
                raise InvalidRequestError("ignore_keys", "must be the only field, true or false")
            self.ignore_idempotency_keys = ignore
            return _json({"ignore_keys": ignore}, 200)
        raise AssertionError(f"unrouted endpoint {endpoint}")  # pragma: no cover

    def _create_payment(self, store: _Store, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None or not key.strip():
            raise InvalidRequestError("Idempotency-Key", "the Idempotency-Key header is required")
        if not _KEY_RE.fullmatch(key):
            raise InvalidRequestError(
                "Idempotency-Key", "must be 1-255 printable ASCII characters without spaces"
            )
        parsed = parse_payment_request(_read_json(request))

        outcome, delay_s = self._faults.next_outcome()
        injected = {"Fault-Injected": outcome}
        if outcome == "error_500":
            return _json(
                {"error": {"code": "internal_error", "message": "injected fault: error_500"}},
                500,
                injected,
            )
        if outcome == "timeout_before":
            self._stopping.wait(delay_s)
            return _json(
                {"error": {"code": "gateway_timeout", "message": "injected fault: timeout"}},
                504,
                injected,
            )

        declined = parsed.account_token.startswith("tok_invalid")
        payment = {
            "payment_id": f"pay_{secrets.token_hex(12)}",
            "status": "rejected" if declined else "accepted",
            "amount": parsed.amount,
            "currency": parsed.currency,
            "account_token": parsed.account_token,
            "reference": parsed.reference,
            "metadata": parsed.metadata,
            "idempotency_key": key,
            "error_code": "account_invalid" if declined else None,
            "created_at": _utc_now(),
        }
        if self.ignore_idempotency_keys:
            key = payment["idempotency_key"] = f"{key}#{secrets.token_hex(6)}"
        recorded = store.record(key, parsed.fingerprint(), payment, 402 if declined else 201)
        if recorded is None:
            return _error(
                422,
                "idempotency_key_reuse",
                "this Idempotency-Key was already used with a different request body",
            )

        if outcome == "accept_then_timeout":
            self._stopping.wait(delay_s)
        elif outcome == "accept_then_500":
            return _json(
                {"error": {"code": "internal_error", "message": "injected fault: accept_then_500"}},
                500,
                injected,
            )
        headers = {} if outcome == "ok" else dict(injected)
        status = recorded.status
        if recorded.replayed:
            headers["Idempotent-Replayed"] = "true"
            if status == 201:
                status = 200
        return _json(recorded.body, status, headers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# ------------------------------------------------------------------ in a process of its own


class PaymentEmulatorProcess(_Provider):
    """``PaymentEmulator`` in a child process (``python -m`` this module), with the same
    interface: the URL, the payments read from the file, and the faults and the
    idempotency switch set over the emulator's own HTTP endpoints.

    The local cloud serves every AWS call of a pay run from one Python process; with
    the provider in that process too, each payment waited for its interpreter lock
    behind the pipeline's requests, and MoneyMovement paid at a quarter of its speed
    while the calculations ran. The child exits when it is stopped, and on its own if
    the process that started it dies.
    """

    #: Seconds to wait for the child to print its URL, and to exit when stopped.
    START_TIMEOUT_S = 30.0
    STOP_TIMEOUT_S = 5.0

    def __init__(self, db_path: Path, host: str = "127.0.0.1") -> None:
        if not _is_loopback(host):
            raise ValueError(f"the payment emulator binds to loopback only, not {host!r}")
        self.db_path = Path(db_path)
        self.host = host
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self._ignore_keys = False
        _ensure_schema(self.db_path)

    def start(self) -> str:
        if self._process is not None:
            raise RuntimeError("the payment emulator is already running")
        command = [
            sys.executable, "-m", "payroll_platform.local.payment_emulator",
            "--db", str(self.db_path), "--host", self.host, "--exit-with-parent",
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own module
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            # The first line is the URL; anything after it is read and dropped, so a
            # full pipe can never stop the child. The pipe ends when the child does.
            if process.stdout is None:
                lines.put("")
                return
            with process.stdout as stdout:
                lines.put(stdout.readline())
                for _ in stdout:
                    pass

        threading.Thread(target=read, name="payment-emulator-stdout", daemon=True).start()
        try:
            url = lines.get(timeout=self.START_TIMEOUT_S).strip()
        except queue.Empty:
            url = ""
        if not url.startswith("http://"):
            process.kill()
            process.wait()
            raise OSError(f"the payment emulator did not start (exit code {process.poll()})")
        self._process, self._url = process, url
        return url

    def stop(self) -> None:
        process, self._process, self._url = self._process, None, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import requests  # the parent's only: the emulator itself does not need it

        response = requests.request(method, f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def _configure_faults(self, config: dict[str, Any]) -> None:
        parse_fault_config(config)  # the same error here as in process
        self._call("POST", "/v1/_faults", config)

    def clear_faults(self) -> None:
        self._call("DELETE", "/v1/_faults")

    def fault_stats(self) -> dict[str, int]:
        return {
            str(kind): int(count) for kind, count in self._call("GET", "/v1/_faults/stats").items()
        }

    def reset_fault_stats(self) -> None:
        self._call("DELETE", "/v1/_faults/stats")

    @property
    def ignore_idempotency_keys(self) -> bool:
        return self._ignore_keys

    @ignore_idempotency_keys.setter
    def ignore_idempotency_keys(self, ignore: bool) -> None:
        self._call("PUT", "/v1/_faults/idempotency", {"ignore_keys": bool(ignore)})
        self._ignore_keys = bool(ignore)


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the first line on stdout is the base URL."""
    parser = argparse.ArgumentParser(
        prog="python -m payroll_platform.local.payment_emulator",
        description="Payment provider emulator (loopback only).",
    )
    parser.add_argument("--db", required=True, type=Path, help="SQLite file of payments")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the starting process dies"
    )
    args = parser.parse_args(argv)
    parent = os.getppid()

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    emulator = PaymentEmulator(args.db, host=args.host, port=args.port, log_requests=args.verbose)
    url = emulator.start()
    try:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        while not stop.wait(0.2):
            if args.exit_with_parent and os.getppid() != parent:
                break
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
