"""The payment provider emulator: idempotency, validation, durability, faults, concurrency."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from payroll_platform.local import payment_emulator as pe
from payroll_platform.local.payment_emulator import PaymentEmulator

TIMEOUT = (2.0, 5.0)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "amount": "123.45",
        "currency": "USD",
        "account_token": "tok_alice_0001",
        "reference": "pr_2025_01/emp_001",
        "metadata": {"employer_id": "er_1"},
    }
    base.update(overrides)
    return base


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def pay(
    url: str,
    payload: dict[str, Any],
    key: str | None,
    timeout: Any = TIMEOUT,
) -> requests.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return requests.post(f"{url}/v1/payments", json=payload, headers=headers, timeout=timeout)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "payments.sqlite"


@pytest.fixture
def emulator(db_path: Path) -> Iterator[PaymentEmulator]:
    with PaymentEmulator(db_path) as emu:
        yield emu


# ------------------------------------------------------------------ basics


def test_start_returns_loopback_url_and_health(emulator: PaymentEmulator) -> None:
    assert emulator.url.startswith("http://127.0.0.1:")
    assert not emulator.url.endswith(":0")
    resp = requests.get(f"{emulator.url}/v1/health", timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "payments": 0}


def test_refuses_non_loopback_host(db_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        PaymentEmulator(db_path, host="0.0.0.0")


def test_url_before_start_raises(db_path: Path) -> None:
    emu = PaymentEmulator(db_path)
    with pytest.raises(RuntimeError):
        _ = emu.url
    assert emu.payments() == []


def test_create_then_replay_then_reuse(emulator: PaymentEmulator) -> None:
    key = new_key()
    first = pay(emulator.url, body(), key)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["payment_id"].startswith("pay_")
    assert created["status"] == "accepted"
    assert created["amount"] == "123.45"
    assert created["reference"] == "pr_2025_01/emp_001"
    assert created["idempotency_key"] == key
    assert created["created_at"].endswith("Z")
    assert "Idempotent-Replayed" not in first.headers

    replay = pay(emulator.url, body(), key)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == created

    # metadata omitted and metadata={} are the same request
    key2 = new_key()
    assert pay(emulator.url, body(metadata={}), key2).status_code == 201
    no_meta = body()
    del no_meta["metadata"]
    assert pay(emulator.url, no_meta, key2).status_code == 200

    reuse = pay(emulator.url, body(amount="123.46"), key)
    assert reuse.status_code == 422
    assert reuse.json()["error"]["code"] == "idempotency_key_reuse"

    payments = emulator.payments()
    assert payments[0]["payment_id"] == created["payment_id"]
    assert len(payments) == 2
    assert payments[0]["amount"] == "123.45"
    assert isinstance(payments[0]["amount"], str)
    assert emulator.totals_by_reference() == {"pr_2025_01/emp_001": Decimal("246.90")}


def test_get_and_list_payments(emulator: PaymentEmulator) -> None:
    a = pay(emulator.url, body(reference="pr_1/emp_a"), new_key()).json()
    b = pay(emulator.url, body(reference="pr_1/emp_b", amount="0.01"), new_key()).json()

    got = requests.get(f"{emulator.url}/v1/payments/{a['payment_id']}", timeout=TIMEOUT)
    assert got.status_code == 200
    assert got.json() == a

    missing = requests.get(f"{emulator.url}/v1/payments/pay_nope", timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    listed = requests.get(f"{emulator.url}/v1/payments", timeout=TIMEOUT).json()["data"]
    assert [p["payment_id"] for p in listed] == [a["payment_id"], b["payment_id"]]
    filtered = requests.get(
        f"{emulator.url}/v1/payments", params={"reference": "pr_1/emp_b"}, timeout=TIMEOUT
    ).json()["data"]
    assert filtered == [b]


def test_missing_idempotency_key_is_400(emulator: PaymentEmulator) -> None:
    resp = pay(emulator.url, body(), None)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "invalid_request",
        "field": "Idempotency-Key",
        "message": "the Idempotency-Key header is required",
    }
    assert emulator.payments() == []


@pytest.mark.parametrize(
    "amount",
    ["0.00", "-1.00", "12.3", "12.345", "12", "1e3", "NaN", "abc", "", " 1.00", 12.5, 12, None],
)
def test_invalid_amount_names_the_field(emulator: PaymentEmulator, amount: Any) -> None:
    key = new_key()
    resp = pay(emulator.url, body(amount=amount), key)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == "amount"
    assert error["message"]
    # nothing recorded: the key is still free for a valid request
    assert emulator.payments() == []
    assert pay(emulator.url, body(), key).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "usd"}, "currency"),
        ({"account_token": "acct_1"}, "account_token"),
        ({"reference": "no-slash"}, "reference"),
        ({"metadata": ["x"]}, "metadata"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_other_invalid_fields(
    emulator: PaymentEmulator, overrides: dict[str, Any], field: str
) -> None:
    resp = pay(emulator.url, body(**overrides), new_key())
    assert resp.status_code == 400
    assert resp.json()["error"]["field"] == field


def test_missing_field_and_bad_json(emulator: PaymentEmulator) -> None:
    payload = body()
    del payload["reference"]
    resp = pay(emulator.url, payload, new_key())
    assert resp.status_code == 400
    assert resp.json()["error"]["field"] == "reference"

    resp = requests.post(
        f"{emulator.url}/v1/payments",
        data=b"{not json",
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["field"] == "body"


def test_invalid_account_is_402_recorded_and_replayed(emulator: PaymentEmulator) -> None:
    key = new_key()
    resp = pay(emulator.url, body(account_token="tok_invalid_closed"), key)
    assert resp.status_code == 402
    error = resp.json()["error"]
    assert error["code"] == "account_invalid"
    assert error["message"]

    replay = pay(emulator.url, body(account_token="tok_invalid_closed"), key)
    assert replay.status_code == 402
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == resp.json()

    payments = emulator.payments()
    assert len(payments) == 1
    assert payments[0]["status"] == "rejected"
    assert payments[0]["error_code"] == "account_invalid"
    assert emulator.totals_by_reference() == {}


# ------------------------------------------------------------------ durability


def test_durable_across_restart(db_path: Path) -> None:
    key = new_key()
    bad_key = new_key()
    with PaymentEmulator(db_path) as first:
        created = pay(first.url, body(), key).json()
        assert pay(first.url, body(account_token="tok_invalid_x"), bad_key).status_code == 402

    # the file alone knows the payments
    assert pe.read_payments(db_path)[0]["payment_id"] == created["payment_id"]

    with PaymentEmulator(db_path) as second:
        got = requests.get(f"{second.url}/v1/payments/{created['payment_id']}", timeout=TIMEOUT)
        assert got.json() == created

        replay = pay(second.url, body(), key)
        assert replay.status_code == 200
        assert replay.json()["payment_id"] == created["payment_id"]
        assert pay(second.url, body(account_token="tok_invalid_x"), bad_key).status_code == 402
        assert pay(second.url, body(amount="1.00"), key).status_code == 422

        health = requests.get(f"{second.url}/v1/health", timeout=TIMEOUT).json()
        assert health["payments"] == 2
    assert len(pe.read_payments(db_path)) == 2
    assert pe.read_totals_by_reference(db_path) == {"pr_2025_01/emp_001": Decimal("123.45")}


def test_amount_stored_as_text(emulator: PaymentEmulator, db_path: Path) -> None:
    import sqlite3

    pay(emulator.url, body(amount="10.10"), new_key())
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT amount, typeof(amount) FROM payments").fetchone()
    finally:
        conn.close()
    assert row == ("10.10", "text")


# ------------------------------------------------------------------ faults


def set_faults(url: str, config: dict[str, Any]) -> requests.Response:
    resp = requests.post(f"{url}/v1/_faults", json=config, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp


def stats(url: str) -> dict[str, int]:
    resp = requests.get(f"{url}/v1/_faults/stats", timeout=TIMEOUT)
    result: dict[str, int] = resp.json()
    return result


def test_error_500_records_nothing(emulator: PaymentEmulator) -> None:
    set_faults(emulator.url, {"script": ["error_500", "ok"]})
    key = new_key()
    resp = pay(emulator.url, body(), key)
    assert resp.status_code == 500
    assert emulator.payments() == []
    retry = pay(emulator.url, body(), key)
    assert retry.status_code == 201
    assert len(emulator.payments()) == 1
    assert stats(emulator.url) == {
        "error_500": 1,
        "timeout_before": 0,
        "accept_then_timeout": 0,
        "accept_then_500": 0,
    }


def test_timeout_before_sleeps_then_504_without_recording(emulator: PaymentEmulator) -> None:
    set_faults(emulator.url, {"script": ["timeout_before"], "delay_s": 0.3})
    resp = pay(emulator.url, body(), new_key())
    assert resp.status_code == 504
    assert resp.elapsed.total_seconds() >= 0.25
    assert emulator.payments() == []

    # a client with a shorter read timeout gives up; still nothing was paid
    set_faults(emulator.url, {"script": ["timeout_before"], "delay_s": 1.0})
    with pytest.raises(requests.exceptions.ReadTimeout):
        pay(emulator.url, body(), new_key(), timeout=(2.0, 0.3))
    assert emulator.payments() == []
    assert stats(emulator.url)["timeout_before"] == 2


def test_accept_then_timeout_pays_once_although_client_timed_out(
    emulator: PaymentEmulator,
) -> None:
    set_faults(emulator.url, {"script": ["accept_then_timeout"], "delay_s": 1.5})
    key = new_key()
    with pytest.raises(requests.exceptions.ReadTimeout):
        pay(emulator.url, body(), key, timeout=(2.0, 0.5))

    recorded = emulator.payments()
    assert len(recorded) == 1
    assert recorded[0]["status"] == "accepted"

    retry = pay(emulator.url, body(), key)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["payment_id"] == recorded[0]["payment_id"]
    assert len(emulator.payments()) == 1
    assert emulator.totals_by_reference() == {"pr_2025_01/emp_001": Decimal("123.45")}
    assert stats(emulator.url)["accept_then_timeout"] == 1


def test_accept_then_timeout_answers_after_the_delay(emulator: PaymentEmulator) -> None:
    set_faults(emulator.url, {"script": ["accept_then_timeout"], "delay_s": 0.2})
    resp = pay(emulator.url, body(), new_key())
    assert resp.status_code == 201
    assert resp.elapsed.total_seconds() >= 0.15


def test_accept_then_500_records_and_retry_replays(emulator: PaymentEmulator) -> None:
    set_faults(emulator.url, {"script": ["accept_then_500"]})
    key = new_key()
    resp = pay(emulator.url, body(), key)
    assert resp.status_code == 500
    recorded = emulator.payments()
    assert len(recorded) == 1

    retry = pay(emulator.url, body(), key)
    assert retry.status_code == 200
    assert retry.json()["payment_id"] == recorded[0]["payment_id"]
    assert len(emulator.payments()) == 1
    assert stats(emulator.url)["accept_then_500"] == 1


def test_script_takes_precedence_over_rates_then_delete_clears(emulator: PaymentEmulator) -> None:
    set_faults(emulator.url, {"seed": 1, "rates": {"error_500": 1.0}, "script": ["ok", "ok"]})
    assert pay(emulator.url, body(), new_key()).status_code == 201
    assert pay(emulator.url, body(), new_key()).status_code == 201
    assert pay(emulator.url, body(), new_key()).status_code == 500  # rates after the script

    cleared = requests.delete(f"{emulator.url}/v1/_faults", timeout=TIMEOUT)
    assert cleared.status_code == 200
    assert cleared.json()["rates"] == {}
    assert pay(emulator.url, body(), new_key()).status_code == 201
    assert stats(emulator.url)["error_500"] == 1

    reset = requests.delete(f"{emulator.url}/v1/_faults/stats", timeout=TIMEOUT)
    assert reset.json() == dict.fromkeys(pe.FAULT_KINDS, 0)


def test_seeded_rates_are_reproducible(emulator: PaymentEmulator) -> None:
    config = {"seed": 42, "rates": {"error_500": 0.3, "accept_then_500": 0.2}}

    def run() -> list[int]:
        set_faults(emulator.url, config)
        return [pay(emulator.url, body(), new_key()).status_code for _ in range(20)]

    first = run()
    second = run()
    assert first == second
    assert 500 in first
    assert 201 in first

    # the draws follow random.Random(seed) over the kinds in FAULT_KINDS order
    rng = random.Random(42)
    kinds = []
    for _ in range(20):
        draw = rng.random()
        kinds.append("error_500" if draw < 0.3 else "accept_then_500" if draw < 0.5 else "ok")
    assert first == [201 if kind == "ok" else 500 for kind in kinds]
    assert stats(emulator.url)["error_500"] == 2 * kinds.count("error_500")
    assert stats(emulator.url)["accept_then_500"] == 2 * kinds.count("accept_then_500")
    # accept_then_500 recorded its payment; error_500 did not
    assert len(emulator.payments()) == 2 * (kinds.count("ok") + kinds.count("accept_then_500"))


@pytest.mark.parametrize(
    "config",
    [
        {"rates": {"boom": 0.5}},
        {"rates": {"error_500": 1.5}},
        {"rates": {"error_500": 0.6, "accept_then_500": 0.6}},
        {"script": ["later"]},
        {"seed": "x"},
        {"delay_s": -1},
        {"unknown": 1},
    ],
)
def test_invalid_fault_config_is_400(emulator: PaymentEmulator, config: dict[str, Any]) -> None:
    resp = requests.post(f"{emulator.url}/v1/_faults", json=config, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("kind", [PaymentEmulator, pe.PaymentEmulatorProcess])
def test_python_fault_api(db_path: Path, kind: Any) -> None:
    with kind(db_path) as emulator:
        emulator.set_faults(script=["error_500", "ok"])
        assert pay(emulator.url, body(), new_key()).status_code == 500
        assert emulator.fault_stats()["error_500"] == 1
        emulator.reset_fault_stats()
        assert emulator.fault_stats()["error_500"] == 0
        emulator.set_faults(script=["error_500"])
        emulator.clear_faults()
        assert pay(emulator.url, body(), new_key()).status_code == 201
        with pytest.raises(pe.InvalidRequestError):
            emulator.set_faults(rates={"error_500": 2.0})

        # A provider that ignores idempotency keys pays the same key twice.
        key = new_key()
        assert pay(emulator.url, body(), key).status_code == 201
        emulator.ignore_idempotency_keys = True
        assert emulator.ignore_idempotency_keys is True
        assert pay(emulator.url, body(), key).status_code == 201
        emulator.ignore_idempotency_keys = False
        assert pay(emulator.url, body(), key).status_code == 200
        assert len(emulator.payments()) == 3
        assert emulator.totals_by_reference() == {"pr_2025_01/emp_001": Decimal("370.35")}


@pytest.mark.parametrize(
    "payload", [{"ignore_keys": "yes"}, {"ignore_keys": True, "other": 1}, [True], {}]
)
def test_the_idempotency_switch_names_its_field(emulator: PaymentEmulator, payload: Any) -> None:
    resp = requests.put(f"{emulator.url}/v1/_faults/idempotency", json=payload, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"]["field"] == "ignore_keys"
    assert emulator.ignore_idempotency_keys is False


def _running(pid: int) -> bool:
    """The process is there and not a zombie (exited, waiting for whoever reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_a_process_emulator_stops_and_exits_with_the_process_that_started_it(
    db_path: Path,
) -> None:
    with pe.PaymentEmulatorProcess(db_path) as emulator:
        process = emulator._process
        assert process is not None
        assert requests.get(f"{emulator.url}/v1/health", timeout=TIMEOUT).status_code == 200
    assert process.poll() == 0  # stopped by SIGTERM, cleanly

    # A parent killed outright: its emulator notices and exits on its own.
    src = str(Path(pe.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    script = (
        "import sys, time; from pathlib import Path\n"
        "from payroll_platform.local.payment_emulator import PaymentEmulatorProcess\n"
        "emulator = PaymentEmulatorProcess(Path(sys.argv[1])); emulator.start()\n"
        "print(emulator._process.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert parent.stdout is not None
    with parent.stdout:
        child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(50):
        if not _running(child):
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the emulator outlived the process that started it")


# ------------------------------------------------------------------ concurrency


def _post_concurrently(url: str, payloads: list[tuple[dict[str, Any], str]]) -> list[Any]:
    barrier = threading.Barrier(len(payloads))
    results: list[Any] = [None] * len(payloads)

    def worker(index: int) -> None:
        payload, key = payloads[index]
        barrier.wait()
        try:
            resp = pay(url, payload, key)
            results[index] = (
                resp.status_code,
                resp.json(),
                resp.headers.get("Idempotent-Replayed"),
            )
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def test_concurrent_same_key_makes_exactly_one_payment(emulator: PaymentEmulator) -> None:
    key = new_key()
    results = _post_concurrently(emulator.url, [(body(), key)] * 8)
    assert all(isinstance(r, tuple) for r in results), results
    codes = sorted(r[0] for r in results)
    assert codes == [200] * 7 + [201]
    assert len({r[1]["payment_id"] for r in results}) == 1
    assert sum(1 for r in results if r[2] == "true") == 7
    assert len(emulator.payments()) == 1


def test_concurrent_distinct_keys_all_recorded(emulator: PaymentEmulator) -> None:
    results = _post_concurrently(
        emulator.url, [(body(reference=f"pr_c/emp_{i}"), new_key()) for i in range(8)]
    )
    assert sorted(r[0] for r in results) == [201] * 8
    assert len(emulator.payments()) == 8
    assert sum(emulator.totals_by_reference().values()) == Decimal("987.60")


# ------------------------------------------------------------------ command line


def test_main_serves_until_sigterm(db_path: Path) -> None:
    src = str(Path(pe.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "payroll_platform.local.payment_emulator", "--db", str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert pay(url, body(), "cli-key").status_code == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [p["idempotency_key"] for p in pe.read_payments(db_path)] == ["cli-key"]
