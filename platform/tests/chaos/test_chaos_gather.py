"""``gather`` against a migrated SQLite database and a fake driver with canned cloud data:
who is expected (GetEmployers' and GetEmployees' rule), which ledger rows are the pay
run's, which dead letters and notices, and that peeking a queue consumes nothing."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

# Imported before the sockets are blocked: urllib3 probes IPv6 with a socket on import.
import boto3
import pytest
from moto import mock_aws
from sqlalchemy import update
from sqlalchemy.orm import Session

from payroll_platform.chaos.invariants import evaluate, gather, peek, read_dead_letters
from payroll_platform.db import ledger
from payroll_platform.db.engine import make_engine
from payroll_platform.db.models import Employee, Employer
from payroll_platform.db.seed import seed
from payroll_platform.local.payment_emulator import _ensure_schema
from payroll_platform.payrun import PayRunDriver, fresh_database
from payroll_shared import names
from payroll_shared.names import PlatformParam

PAY_DATE = date(2026, 7, 31)
PAY_RUN = "pr-weekly-2026-07-31"
OTHER_RUN = "pr-weekly-2026-07-24"
STAGE = "dev"
QUEUES = {
    names.platform_param(STAGE, PlatformParam.PROCESS_DLQ_URL): "https://sqs.local/process-dlq",
    names.service_param(STAGE, "employer-validation", names.DLQ_URL): "https://sqs.local/ev-dlq",
    names.service_param(STAGE, "money-movement", names.DLQ_URL): "https://sqs.local/mm-dlq",
    names.service_param(STAGE, "orchestration", names.DLQ_URL): "https://sqs.local/orch-dlq",
}


class FakeSqs:
    """Receive hides a message until its visibility is set back to 0, as SQS does."""

    def __init__(self, queues: dict[str, list[str]]) -> None:
        self.messages = {
            url: [{"MessageId": f"{url}#{i}", "Body": body} for i, body in enumerate(bodies)]
            for url, bodies in queues.items()
        }
        self.hidden: set[str] = set()

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **_: Any) -> dict:
        visible = [m for m in self.messages[QueueUrl] if m["MessageId"] not in self.hidden]
        batch = visible[:MaxNumberOfMessages]
        self.hidden.update(m["MessageId"] for m in batch)
        return {"Messages": [{**m, "ReceiptHandle": m["MessageId"]} for m in batch]}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        for entry in Entries:
            assert entry["VisibilityTimeout"] == 0
            self.hidden.discard(entry["ReceiptHandle"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


class FakeDriver:
    """``PayRunDriver``'s reads, answered from canned DynamoDB, SQS and provider data."""

    def __init__(self, *, status: list[dict], employers: list[dict], sqs: FakeSqs) -> None:
        self.stage = STAGE
        self.sqs = sqs
        self.status = status
        self.employers = employers
        self.payments_asked: list[str] = []

    def param(self, path: str) -> str:
        return QUEUES[path]

    def client(self, service: str) -> Any:
        assert service == "sqs"
        return self.sqs

    # Like the real scans: a prefix match, so the caller must still filter exactly.
    def employee_items(self, pay_run: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.status if str(i["pay_run_id"]).startswith(pay_run or "")]

    def employer_items(self, pay_run: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.employers if str(i["pay_run_id"]).startswith(pay_run or "")]

    def notices(self, pay_run: str) -> list[dict[str, Any]]:
        notices = [
            {"pay_run_id": PAY_RUN, "employer_id": "er-31-0001", "net_total": "1.00"},
            {"pay_run_id": OTHER_RUN, "employer_id": "er-31-0001", "net_total": "2.00"},
        ]
        return [n for n in notices if n["pay_run_id"] == pay_run]

    def payments(self, pay_run: str) -> list[dict[str, Any]]:
        self.payments_asked.append(pay_run)
        return [
            {
                "payment_id": "pay_1",
                "status": "accepted",
                "amount": "900.00",
                "currency": "USD",
                "account_token": "tok_secret_account",
                "reference": f"{pay_run}/ee-31-000001",
                "metadata": {},
                "idempotency_key": f"{pay_run}:ee-31-000001",
                "created_at": "2026-07-31T12:00:00Z",
            }
        ]


def statement(pay_run: str, employee: str, employer: str, pay_date: date, **money: str) -> dict:
    figures = {
        "gross_pay": "2000.00",
        "taxable_wages": "2000.00",
        "federal_income_tax": "150.00",
        "social_security": "124.00",
        "medicare": "29.00",
        "additional_medicare": "0.00",
        "state_income_tax": "0.00",
        "retirement_deferral": "0.00",
        "employer_match": "0.00",
        "employer_social_security": "124.00",
        "employer_medicare": "29.00",
        "futa": "12.00",
        "section125": "0.00",
        "net_pay": "900.00",
    }
    figures.update(money)
    return {
        "pay_run_id": pay_run,
        "employee_id": employee,
        "employer_id": employer,
        "pay_date": pay_date,
        "tax_year": pay_date.year,
        "roth": False,
        **{name: Decimal(value) for name, value in figures.items()},
    }


@pytest.fixture
def database(tmp_path: Path) -> str:
    """Weekly employers er-31-0001..3 (4 employees each) and a biweekly one (not due);
    one employee and one whole employer made inactive; a few ledger rows."""
    url, _ = fresh_database(
        tmp_path / "run",
        employers=3,
        employees_per_employer=4,
        pay_date=PAY_DATE,
        seed=31,
        pay_schedule="weekly",
        inactive_share=0.0,
    )
    engine = make_engine(url)
    try:
        seed(
            engine,
            employers=1,
            employees_per_employer=2,
            pay_date=PAY_DATE,
            seed=32,
            pay_schedule="biweekly",
            inactive_share=0.0,
        )
        with Session(engine) as session, session.begin():
            session.execute(
                update(Employee).where(Employee.employee_id == "ee-31-000002").values(active=False)
            )
            session.execute(
                update(Employer).where(Employer.employer_id == "er-31-0003").values(active=False)
            )
            ledger.commit_statements(
                session,
                [
                    statement(PAY_RUN, "ee-31-000001", "er-31-0001", PAY_DATE),
                    statement(PAY_RUN, "ee-31-000005", "er-31-0002", PAY_DATE, net_pay="800.00"),
                    # Year to date of ee-31-000001: this year's earlier run, not last year's.
                    statement(OTHER_RUN, "ee-31-000001", "er-31-0001", date(2026, 7, 24)),
                    statement(
                        "pr-weekly-2025-12-26", "ee-31-000001", "er-31-0001", date(2025, 12, 26)
                    ),
                    # Someone else's statement of another run: not evidence.
                    statement(OTHER_RUN, "ee-32-000001", "er-32-0001", date(2026, 7, 24)),
                ],
            )
            ledger.record_payment(
                session,
                pay_run_id=PAY_RUN,
                employee_id="ee-31-000001",
                idempotency_key=f"{PAY_RUN}:ee-31-000001",
                amount=Decimal("900.00"),
                status="ACCEPTED",
                provider_payment_id="pay_1",
            )
            ledger.record_payment(
                session,
                pay_run_id=OTHER_RUN,
                employee_id="ee-31-000001",
                idempotency_key=f"{OTHER_RUN}:ee-31-000001",
                amount=Decimal("900.00"),
                status="ACCEPTED",
            )
    finally:
        engine.dispose()
    return url


def fake_driver() -> FakeDriver:
    def dead_letter(pay_run: str, employee: str) -> str:
        return json.dumps(
            {
                "record_id": f"{pay_run}/er-31-0002/{employee}",
                "source": "process",
                "pay_run_id": pay_run,
                "employer_id": "er-31-0002",
                "employee_id": employee,
                "step": "tax_calc",
                "error": {"code": "UnsupportedState", "message": "employee: CA"},
                "attempts": 1,
                "first_failed_at": "2026-07-31T12:00:00Z",
                "last_failed_at": "2026-07-31T12:00:00Z",
                "payload": {},
            }
        )

    push = {"pay_run": {"pay_run_id": PAY_RUN}, "employer_id": "er-31-0002", "statements": 4}
    queues = {
        QUEUES[names.platform_param(STAGE, PlatformParam.PROCESS_DLQ_URL)]: [
            dead_letter(PAY_RUN, f"ee-31-0000{n:02d}") for n in range(6, 19)
        ]
        + [dead_letter(OTHER_RUN, "ee-31-000007")],
        QUEUES[names.service_param(STAGE, "employer-validation", names.DLQ_URL)]: [
            "not json: a poison message kept as it came"
        ],
        QUEUES[names.service_param(STAGE, "money-movement", names.DLQ_URL)]: [
            json.dumps(push),
            json.dumps({**push, "pay_run": {"pay_run_id": OTHER_RUN}}),
        ],
        QUEUES[names.service_param(STAGE, "orchestration", names.DLQ_URL)]: [
            json.dumps({"pay_schedule": "weekly", "pay_date": "2026-07-31"}),
            json.dumps({"pay_schedule": "weekly", "pay_date": "2026-07-24"}),
        ],
    }
    status = [
        {
            "pk": f"{PAY_RUN}#er-31-0001",
            "employee_id": "ee-31-000001",
            "pay_run_id": PAY_RUN,
            "employer_id": "er-31-0001",
            "status": "PAID",
            "attempts": Decimal("5"),
            "result_tax_calc": json.dumps({"net_pay": "900.00"}),
        },
        # Another pay run whose id the scan's prefix match lets through.
        {"pay_run_id": f"{PAY_RUN}x", "employee_id": "ee-31-000001", "status": "PAID"},
    ]
    employers = [
        {"pay_run_id": PAY_RUN, "employer_id": "er-31-0001", "status": "PAID", "employees": 4},
        {"pay_run_id": OTHER_RUN, "employer_id": "er-31-0001", "status": "PAID"},
    ]
    return FakeDriver(status=status, employers=employers, sqs=FakeSqs(queues))


def test_gather_reads_the_pay_run_from_the_database_and_the_cloud(database: str) -> None:
    driver = fake_driver()

    evidence = gather(driver, database, PAY_RUN)  # type: ignore[arg-type]

    # Active weekly employers' active employees: not the inactive employee, not the
    # inactive employer's, not the biweekly employer's.
    expected = {f"ee-31-0000{n:02d}": "er-31-0001" for n in (1, 3, 4)}
    expected.update({f"ee-31-0000{n:02d}": "er-31-0002" for n in (5, 6, 7, 8)})
    assert evidence.expected_employees == expected

    assert [(s["employee_id"], s["net_pay"]) for s in evidence.statements] == [
        ("ee-31-000001", "900.00"),
        ("ee-31-000005", "800.00"),
    ]
    assert evidence.statements[0]["pay_date"] == "2026-07-31"
    assert [(s["pay_run_id"], s["employee_id"]) for s in evidence.other_statements] == [
        (OTHER_RUN, "ee-31-000001")
    ]
    assert [(p["employee_id"], p["status"], p["amount"]) for p in evidence.ledger_payments] == [
        ("ee-31-000001", "ACCEPTED", "900.00")
    ]

    assert driver.payments_asked == [PAY_RUN]
    assert evidence.payments == [
        {
            "payment_id": "pay_1",
            "status": "accepted",
            "amount": "900.00",
            "currency": "USD",
            "reference": f"{PAY_RUN}/ee-31-000001",
            "idempotency_key": f"{PAY_RUN}:ee-31-000001",
            "created_at": "2026-07-31T12:00:00Z",
        }
    ]
    assert [i["employee_id"] for i in evidence.employee_status] == ["ee-31-000001"]
    assert evidence.employee_status[0]["attempts"] == 5
    assert [i["employer_id"] for i in evidence.employer_status] == ["er-31-0001"]
    assert evidence.notices == [
        {"pay_run_id": PAY_RUN, "employer_id": "er-31-0001", "net_total": "1.00"}
    ]

    # More than one page of the process DLQ, this pay run's only; the employer-level
    # PushPayment and the pay run's trigger too; the poison message names no pay run.
    by_queue: dict[str, int] = {}
    for letter in evidence.dead_letters:
        assert letter["pay_run_id"] == PAY_RUN
        by_queue[letter["queue"]] = by_queue.get(letter["queue"], 0) + 1
    assert by_queue == {"process": 13, "money-movement": 1, "orchestration": 1}
    # Peeked, not consumed: every message is visible again.
    assert driver.sqs.hidden == set()

    # Plain data: the whole evidence is JSON as it stands.
    json.dumps(asdict(evidence))
    result = evaluate(evidence)
    assert result["employees"] == 7
    assert result["paid_once"] == 1
    assert result["details"]["amount_mismatches"] == []
    # er-31-0002's unpaid employees are named by its PushPayment on the money-movement
    # DLQ; er-31-0001's by the pay run's trigger still on the orchestration DLQ.
    assert result["unpaid_without_dead_letter"] == 0
    assert result["ytd_checked"] == 2
    assert result["ytd_mismatches"] == 0


def test_gather_reads_the_providers_record_from_the_emulators_file(
    database: str, tmp_path: Path
) -> None:
    payments_db = tmp_path / "payments.sqlite"
    _ensure_schema(payments_db)
    with sqlite3.connect(payments_db) as connection:
        connection.executemany(
            "INSERT INTO payments (payment_id, status, amount, currency, account_token,"
            " reference, metadata, idempotency_key, error_code, created_at)"
            " VALUES (?, ?, ?, 'USD', 'tok_x', ?, '{}', ?, ?, '2026-07-31T12:00:00Z')",
            [
                ("pay_a", "rejected", "800.00", f"{PAY_RUN}/ee-31-000005",
                 f"{PAY_RUN}:ee-31-000005", "account_invalid"),
                ("pay_b", "accepted", "800.00", f"{PAY_RUN}/ee-31-000005",
                 f"{PAY_RUN}:ee-31-000005:a2", None),
                ("pay_c", "accepted", "900.00", f"{OTHER_RUN}/ee-31-000001",
                 f"{OTHER_RUN}:ee-31-000001", None),
            ],
        )  # fmt: skip
    connection.close()
    driver = fake_driver()

    evidence = gather(driver, database, PAY_RUN, payments_db=payments_db)  # type: ignore[arg-type]

    assert driver.payments_asked == []
    assert [(p["payment_id"], p["status"], p["error_code"]) for p in evidence.payments] == [
        ("pay_a", "rejected", "account_invalid"),
        ("pay_b", "accepted", None),
    ]
    assert all("account_token" not in p for p in evidence.payments)


def test_dead_letters_are_peeked_through_the_real_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same reads through ``PayRunDriver`` and boto3 against moto (in process)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        sqs, ssm = boto3.client("sqs"), boto3.client("ssm")
        urls = {}
        for path in QUEUES:
            urls[path] = sqs.create_queue(QueueName=path.strip("/").replace("/", "-"))["QueueUrl"]
            ssm.put_parameter(Name=path, Value=urls[path], Type="String")
        process = urls[names.platform_param(STAGE, PlatformParam.PROCESS_DLQ_URL)]
        for n in range(23):  # three receive pages
            body = {"pay_run_id": PAY_RUN, "employer_id": "er-1", "employee_id": f"ee-{n}"}
            sqs.send_message(QueueUrl=process, MessageBody=json.dumps(body))
        poison = urls[names.service_param(STAGE, "employer-validation", names.DLQ_URL)]
        sqs.send_message(QueueUrl=poison, MessageBody="not json")
        driver = PayRunDriver(boto3.client, STAGE)

        letters = read_dead_letters(driver, PAY_RUN)

        assert sorted(letter["employee_id"] for letter in letters) == sorted(
            f"ee-{n}" for n in range(23)
        )
        depth = sqs.get_queue_attributes(
            QueueUrl=process,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert depth == {
            "ApproximateNumberOfMessages": "23",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }
        assert peek(sqs, poison) == [{"unparsed_body": "not json"}]
