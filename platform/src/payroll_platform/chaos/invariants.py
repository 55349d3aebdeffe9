"""The invariants of a chaos run: everyone paid once, the right amount, or dead-lettered.

After a pay run with injected faults and redrives, the system's own account of what
happened (its logs, its counters) is exactly what a fault may have falsified, so the
check reads the records each part of it cannot rewrite and compares them:

- the payment provider's record (the emulator's file or its API): the money that
  actually moved, one row per payment, ``reference`` = ``<pay_run_id>/<employee_id>``,
  ``status`` accepted or rejected. This is the truth about who was paid;
- the database: who had to be paid (``expected_employees``: the active employees of
  the active employers on the pay run's schedule, read with the very queries
  GetEmployers and GetEmployees use, ``iter_due_employers`` and
  ``iter_employee_records``, as the database holds them *now*: an employee deactivated
  after the run is no longer expected), the committed pay statements of the pay run,
  the same employees' other statements of the tax year (what year to date sums), and
  the ``payments`` rows MoneyMovement recorded;
- EmployeeStatus and EmployerStatus items of the pay run;
- the dead letters that say why someone was not paid, read without consuming them;
- the completion notices the local cloud's subscriber of the completion topic received.

``gather`` reads all of that once into an ``Evidence`` of plain data (strings, ints,
lists, dicts: ``dataclasses.asdict`` of it is JSON), and ``evaluate`` (pure) turns it
into counts, the offending ids, and ``invariants_hold``.

How a dead letter names the employees it stands for (``_coverage``):

- a process-DLQ ``DeadLetterRecord`` names one employee (``employee_id``): EmployerValidation
  writes one per FAILED employee (``<pay run>/<employer>/<employee>``) and MoneyMovement
  one per refused payment (``.../payment``, source ``payment``); an employer that could
  not be listed or run is one record of source ``orchestration`` naming the employer and
  no employee, and stands for all of its employees;
- a message on EmployerValidation's or MoneyMovement's own DLQ (an ``EmployerCompletion``
  or a ``PushPayment`` that failed every delivery, or a poison message) names an employer
  and stands for all of its employees;
- a pay-run trigger on the orchestration DLQ names neither and stands for the whole pay
  run. (The step queues' DLQs need not be read: a step message's last delivery fails
  its task, the chunk's employees are FAILED, and EmployerValidation dead-letters them.)

Year to date (``ytd_mismatches``): the step results stored on EmployeeStatus
(``results_zlib``: the retirement and tax results among them) hold the period's figures, not the
year-to-date inputs the steps read (``payroll_shared.step_ytd``: loaded per chunk from
the ledger by ``repository.year_to_date``, never stored), so the inputs cannot be
compared directly. What is compared instead is their effect: Social Security (and the
employer's share), Additional Medicare and FUTA are recomputed with the payroll library
(``calc.tax.fica_taxes``) from the statement's FICA wages and a year to date summed
exactly as the tax step sums it (the employee's statements of the same tax year paid
before this pay date, this pay run excluded), and must equal the committed statement.
A year to date that counted this run's own statement (or missed or repeated another)
changes these figures whenever it moves a wage base or threshold (Social Security
184,500, Additional Medicare 200,000, FUTA 7,000 in 2026); below every threshold the
figures are the same either way and nothing can be seen. A second statement for the
same employee and pay run (which would count twice in every later year to date) is a
mismatch too. Not comparable from these records: the 401(k) deferral and match limits
(they also need the employee's election and age, which the evidence does not hold).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from payroll_platform.db.engine import make_engine
from payroll_platform.db.models import Payment, PayStatement
from payroll_platform.db.repository import iter_due_employers, iter_employee_records
from payroll_platform.payrun import PayRunDriver
from payroll_shared import names
from payroll_shared.calc.errors import UnknownTaxYear
from payroll_shared.calc.tables import TaxYearTables, tables_for
from payroll_shared.calc.tax import fica_taxes
from payroll_shared.money import ZERO, format_money, parse_money
from payroll_shared.names import PlatformParam
from payroll_shared.payrun import PayFrequency, parse_pay_run_id
from payroll_shared.payrun import pay_run_id as make_pay_run_id

#: Offending ids listed per count in ``details`` (the counts themselves are exact).
DETAILS_CAP = 50
#: The provider's payment fields kept as evidence (the account token is left out).
PAYMENT_FIELDS = (
    "payment_id",
    "status",
    "amount",
    "currency",
    "reference",
    "idempotency_key",
    "error_code",
    "created_at",
)
#: The columns of the other statements that year to date is summed from.
YTD_COLUMNS = (
    "pay_run_id",
    "employee_id",
    "employer_id",
    "pay_date",
    "tax_year",
    "gross_pay",
    "section125",
    "taxable_wages",
    "retirement_deferral",
    "employer_match",
)
#: Statement figures that depend on year to date, compared with the recomputed ones.
YTD_FIGURES = ("social_security", "employer_social_security", "additional_medicare", "futa")
#: Dead-letter queues, named as ``Evidence.dead_letters[i]["queue"]`` says.
PROCESS_QUEUE = "process"
SERVICE_DLQS = ("employer-validation", "money-movement", "orchestration")
#: SQS ReceiveMessage takes at most ten; a peeked message stays hidden this long at most.
_RECEIVE_MAX = 10
_PEEK_VISIBILITY_S = 120
#: Stays under every backend's bound-parameter limit (as the repository's reads do).
_IN_CHUNK = 500

Row = dict[str, Any]


@dataclass
class Evidence:
    """Everything the check reads about one pay run, as plain data.

    Money is a two-decimal string (as the provider and the ledger give it), dates ISO
    strings. Every list holds only the pay run's own records.
    """

    pay_run_id: str
    #: employee_id -> employer_id: everyone this pay run must pay.
    expected_employees: dict[str, str] = field(default_factory=dict)
    #: The provider's payments of the pay run, accepted and rejected, oldest first.
    payments: list[Row] = field(default_factory=list)
    #: The ledger's ``payments`` rows of the pay run (one per employee: the latest attempt).
    ledger_payments: list[Row] = field(default_factory=list)
    #: The ledger's ``pay_statements`` rows of the pay run.
    statements: list[Row] = field(default_factory=list)
    #: EmployeeStatus and EmployerStatus items of the pay run (plain values).
    employee_status: list[Row] = field(default_factory=list)
    employer_status: list[Row] = field(default_factory=list)
    #: Dead letters of the pay run from every queue that keeps them, each with ``queue``.
    dead_letters: list[Row] = field(default_factory=list)
    #: Completion notices of the pay run as the topic's subscriber received them.
    notices: list[Row] = field(default_factory=list)
    #: The statements of other pay runs in the same tax year of the employees above
    #: (``YTD_COLUMNS``): what the steps' year to date is summed from.
    other_statements: list[Row] = field(default_factory=list)


# ------------------------------------------------------------------------------ gather


def gather(
    driver: PayRunDriver, database_url: str, pay_run_id: str, payments_db: Path | None = None
) -> Evidence:
    """Read the evidence of ``pay_run_id``: the database at ``database_url``, the status
    tables, queues and SSM parameters through ``driver``, and the provider's record from
    the emulator's file ``payments_db`` (or, without one, its API through ``driver``).

    Queues are peeked, not consumed: a dead letter read here is still there to redrive.
    SQS cannot browse, so each peek is a receive and adds one to every message's
    ApproximateReceiveCount; the Redrive schedule parks a pay-run trigger on the
    orchestration DLQ by that count, so gather after the redrive rounds, not between.
    """
    evidence = Evidence(pay_run_id=pay_run_id)
    _read_database(evidence, database_url)
    evidence.payments = _provider_payments(driver, pay_run_id, payments_db)
    evidence.employee_status = [
        _plain(item)
        for item in driver.employee_items(pay_run_id)
        if item.get("pay_run_id") == pay_run_id
    ]
    evidence.employer_status = [
        _plain(item)
        for item in driver.employer_items(pay_run_id)
        if item.get("pay_run_id") == pay_run_id
    ]
    evidence.dead_letters = read_dead_letters(driver, pay_run_id)
    evidence.notices = [_plain(notice) for notice in driver.notices(pay_run_id)]
    return evidence


def _read_database(evidence: Evidence, database_url: str) -> None:
    schedule, pay_date = parse_pay_run_id(evidence.pay_run_id)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            evidence.expected_employees = _expected_employees(session, schedule)
            evidence.statements = _rows(
                session,
                select(PayStatement.__table__)
                .where(PayStatement.pay_run_id == evidence.pay_run_id)
                .order_by(PayStatement.employee_id, PayStatement.id),
            )
            evidence.ledger_payments = _rows(
                session,
                select(Payment.__table__)
                .where(Payment.pay_run_id == evidence.pay_run_id)
                .order_by(Payment.employee_id),
            )
            employees = set(evidence.expected_employees)
            employees.update(str(s["employee_id"]) for s in evidence.statements)
            evidence.other_statements = _other_statements(
                session, evidence.pay_run_id, sorted(employees), pay_date.year
            )
    finally:
        engine.dispose()


def _expected_employees(session: Session, schedule: PayFrequency) -> dict[str, str]:
    """GetEmployers' rule (active employers on the schedule), then GetEmployees' (their
    active employees), with the same repository functions."""
    employer_ids = [e.employer_id for e in iter_due_employers(session, [schedule.value])]
    expected: dict[str, str] = {}
    for employer_id in employer_ids:
        for record in iter_employee_records(session, employer_id):
            expected[str(record["employee_id"])] = employer_id
    return expected


def _other_statements(
    session: Session, this_pay_run: str, employee_ids: Sequence[str], tax_year: int
) -> list[Row]:
    columns = [PayStatement.__table__.c[name] for name in YTD_COLUMNS]
    found: list[Row] = []
    for chunk in _iter_chunks(employee_ids):
        query = (
            select(*columns)
            .where(
                PayStatement.employee_id.in_(chunk),
                PayStatement.tax_year == tax_year,
                PayStatement.pay_run_id != this_pay_run,
            )
            .order_by(PayStatement.employee_id, PayStatement.pay_date, PayStatement.id)
        )
        found.extend(_rows(session, query))
    return found


def _rows(session: Session, query: Select[Any]) -> list[Row]:
    return [
        {key: _plain(value) for key, value in row.items() if key != "id"}
        for row in session.execute(query).mappings()
    ]


def _provider_payments(
    driver: PayRunDriver, pay_run_id: str, payments_db: Path | None
) -> list[Row]:
    if payments_db is None:
        recorded = driver.payments(pay_run_id)
    else:
        # Only the emulator's file reader: no server is needed to read it.
        from payroll_platform.local.payment_emulator import read_payments

        recorded = read_payments(payments_db)
    prefix = f"{pay_run_id}/"
    return [
        {key: _plain(payment[key]) for key in PAYMENT_FIELDS if key in payment}
        for payment in recorded
        if str(payment.get("reference", "")).startswith(prefix)
    ]


def read_dead_letters(driver: PayRunDriver, pay_run: str) -> list[Row]:
    sqs = driver.client("sqs")
    queues = {PROCESS_QUEUE: names.platform_param(driver.stage, PlatformParam.PROCESS_DLQ_URL)}
    queues.update(
        {
            service: names.service_param(driver.stage, service, names.DLQ_URL)
            for service in SERVICE_DLQS
        }
    )
    letters: list[Row] = []
    for queue, parameter in queues.items():
        for body in peek(sqs, driver.param(parameter)):
            if _pay_run_of(body) == pay_run:
                letters.append({**_plain(body), "queue": queue, "pay_run_id": pay_run})
    return letters


def peek(sqs: Any, queue_url: str) -> list[Row]:
    """Every message body on a queue, without consuming it (as ``PayRunDriver._peek``).

    A body that is not a JSON object (a poison message on a service's own DLQ is kept
    as it came) is returned as ``{"unparsed_body": text}`` rather than failing the read.
    """
    bodies: dict[str, Row] = {}
    receipts: list[str] = []
    try:
        while True:
            got = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=_RECEIVE_MAX,
                VisibilityTimeout=_PEEK_VISIBILITY_S,
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                bodies[message["MessageId"]] = _body(message["Body"])
                receipts.append(message["ReceiptHandle"])
    finally:
        for start in range(0, len(receipts), _RECEIVE_MAX):
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(receipts[start : start + _RECEIVE_MAX])
                ],
            )
    return list(bodies.values())


def _body(text: str) -> Row:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"unparsed_body": text}
    return parsed if isinstance(parsed, dict) else {"unparsed_body": text}


def _pay_run_of(body: Mapping[str, Any]) -> str | None:
    """The pay run a dead letter belongs to, whichever contract its body is."""
    if isinstance(body.get("pay_run_id"), str):  # DeadLetterRecord
        return str(body["pay_run_id"])
    pay_run = body.get("pay_run")  # EmployerCompletion, PushPayment
    if isinstance(pay_run, Mapping) and isinstance(pay_run.get("pay_run_id"), str):
        return str(pay_run["pay_run_id"])
    try:  # PayRunTrigger
        return make_pay_run_id(
            PayFrequency(body["pay_schedule"]), date.fromisoformat(body["pay_date"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """JSON-ready: Decimal -> int when whole (DynamoDB counters) else its string (money
    keeps its two decimals), dates and times -> ISO strings."""
    if isinstance(value, Decimal):
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------- evaluate


def evaluate(evidence: Evidence) -> dict[str, Any]:
    """Count every kind of harm in ``evidence`` and name the offenders (pure).

    ``invariants_hold`` is True only when nobody was paid twice, every accepted amount is
    the committed net pay of an expected employee, no year to date is wrong, no employer
    got a second notice, and everyone unpaid is named by a dead letter. Status and
    ledger disagreements and missing notices are reported without deciding it.

    Nothing is read but the evidence and, for the year-to-date recomputation, the
    payroll library's packaged rule table of the tax year (cached by ``tables_for``).
    """
    pay_run = evidence.pay_run_id
    expected = evidence.expected_employees
    accepted = _accepted_amounts(pay_run, evidence.payments)
    statements = _by_employee(evidence.statements)

    paid_once = sorted(e for e in expected if len(accepted.get(e, ())) == 1)
    paid_twice = sorted(e for e, amounts in accepted.items() if len(amounts) > 1)
    unpaid = sorted(e for e in expected if not accepted.get(e))
    covered = _coverage(evidence.dead_letters)
    with_dead_letter = [e for e in unpaid if covered(e, expected[e])]
    without_dead_letter = [e for e in unpaid if not covered(e, expected[e])]
    amount_mismatches = _amount_mismatches(expected, accepted, statements)
    ytd_mismatches, ytd_checked = _ytd_mismatches(pay_run, statements, evidence.other_statements)

    notices = Counter(str(n.get("employer_id")) for n in evidence.notices)
    duplicated = sorted(employer for employer, count in notices.items() if count > 1)
    by_employer: defaultdict[str, list[str]] = defaultdict(list)
    for employee, employer in expected.items():
        by_employer[employer].append(employee)
    missing_notices = sorted(
        employer
        for employer, employees in by_employer.items()
        if all(accepted.get(e) for e in employees) and not notices[employer]
    )
    status_mismatches = _status_mismatches(evidence.employee_status, accepted)
    ledger_mismatches = _ledger_mismatches(evidence.ledger_payments, accepted)

    counts = {
        "paid_twice": len(paid_twice),
        "unpaid_without_dead_letter": len(without_dead_letter),
        "amount_mismatches": len(amount_mismatches),
        "ytd_mismatches": len(ytd_mismatches),
        "notices_duplicated": sum(count - 1 for count in notices.values() if count > 1),
    }
    accepted_total = sum(
        (a for amounts in accepted.values() for a in amounts if a is not None), ZERO
    )
    net_total = sum((_money(rows[0].get("net_pay")) or ZERO for rows in statements.values()), ZERO)
    return {
        "pay_run_id": pay_run,
        "employees": len(expected),
        "paid_once": len(paid_once),
        "paid_twice": counts["paid_twice"],
        "unpaid_without_dead_letter": counts["unpaid_without_dead_letter"],
        "unpaid_with_dead_letter": len(with_dead_letter),
        "amount_mismatches": counts["amount_mismatches"],
        "ytd_mismatches": counts["ytd_mismatches"],
        "ytd_checked": ytd_checked,
        "notices": sum(notices.values()),
        "notices_duplicated": counts["notices_duplicated"],
        "notices_missing": len(missing_notices),
        "status_mismatches": len(status_mismatches),
        "ledger_mismatches": len(ledger_mismatches),
        "dead_letters": len(evidence.dead_letters),
        "statements": len(evidence.statements),
        "statements_net_total": format_money(net_total),
        "payments_accepted_total": format_money(accepted_total),
        "employee_states": dict(
            sorted(Counter(str(i.get("status")) for i in evidence.employee_status).items())
        ),
        "employer_states": dict(
            sorted(Counter(str(i.get("status")) for i in evidence.employer_status).items())
        ),
        "details": {
            "paid_twice": _cap(paid_twice),
            "unpaid_without_dead_letter": _cap(without_dead_letter),
            "unpaid_with_dead_letter": _cap(with_dead_letter),
            "amount_mismatches": _cap(amount_mismatches),
            "ytd_mismatches": _cap(ytd_mismatches),
            "notices_duplicated": _cap(duplicated),
            "notices_missing": _cap(missing_notices),
            "status_mismatches": _cap(status_mismatches),
            "ledger_mismatches": _cap(ledger_mismatches),
        },
        "invariants_hold": not any(counts.values()),
    }


def _cap(ids: Iterable[str]) -> list[str]:
    return sorted(ids)[:DETAILS_CAP]


def _money(value: Any) -> Decimal | None:
    """A two-decimal amount, or None when it is not one (it then matches nothing)."""
    try:
        return parse_money(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _by_employee(rows: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: defaultdict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[str(row["employee_id"])].append(row)
    return dict(grouped)


def _accepted_amounts(pay_run: str, payments: Iterable[Row]) -> dict[str, list[Decimal | None]]:
    """employee id -> the amount of each payment the provider accepted for this pay run."""
    prefix = f"{pay_run}/"
    accepted: defaultdict[str, list[Decimal | None]] = defaultdict(list)
    for payment in payments:
        reference = str(payment.get("reference", ""))
        if reference.startswith(prefix) and payment.get("status") == "accepted":
            accepted[reference[len(prefix) :]].append(_money(payment.get("amount")))
    return dict(accepted)


def _coverage(dead_letters: Iterable[Row]) -> Callable[[str, str], bool]:
    """``covered(employee_id, employer_id)``: does a dead letter stand for them?"""
    employees: set[str] = set()
    employers: set[str] = set()
    whole_run = False
    for record in dead_letters:
        employee, employer = _text(record.get("employee_id")), _text(record.get("employer_id"))
        if employee:
            employees.add(employee)
        elif employer:
            employers.add(employer)
        else:
            whole_run = True

    def covered(employee_id: str, employer_id: str) -> bool:
        return whole_run or employee_id in employees or employer_id in employers

    return covered


def _amount_mismatches(
    expected: Mapping[str, str],
    accepted: Mapping[str, Sequence[Decimal | None]],
    statements: Mapping[str, Sequence[Row]],
) -> list[str]:
    """Employees with an accepted payment that is not their statement's net pay, or
    that nobody expected, or that no statement stands behind."""
    mismatched: list[str] = []
    for employee, amounts in accepted.items():
        rows = statements.get(employee)
        net_pay = _money(rows[0].get("net_pay")) if rows else None
        if employee not in expected or net_pay is None or any(a != net_pay for a in amounts):
            mismatched.append(employee)
    return sorted(mismatched)


def _ytd_mismatches(
    pay_run: str, statements: Mapping[str, Sequence[Row]], others: Iterable[Row]
) -> tuple[list[str], int]:
    """Employees with two statements in the pay run, or whose year-to-date-dependent
    figures differ from a recomputation on the ledger's year to date; and how many
    statements could be recomputed."""
    earlier = _by_employee(o for o in others if o.get("pay_run_id") != pay_run)
    tables: dict[int, TaxYearTables | None] = {}
    mismatched: set[str] = set()
    checked = 0
    for employee, rows in statements.items():
        if len(rows) > 1:
            mismatched.add(employee)
        for statement in rows:
            verdict = _ytd_figures_match(statement, earlier.get(employee, ()), tables)
            if verdict is None:
                continue
            checked += 1
            if not verdict:
                mismatched.add(employee)
    return sorted(mismatched), checked


def _ytd_figures_match(
    statement: Row, others: Iterable[Row], tables: dict[int, TaxYearTables | None]
) -> bool | None:
    """Whether the statement's FICA and FUTA figures are those of the year to date the
    tax step reads (``repository.year_to_date``: same tax year, paid before this pay
    date); None when it cannot be recomputed (an unknown tax year, a missing figure)."""
    try:
        tax_year = int(statement["tax_year"])
        pay_date = _date(statement["pay_date"])
        fica_wages = _figure(statement, "gross_pay") - _figure(statement, "section125")
        recorded = {name: _figure(statement, name) for name in YTD_FIGURES}
        ytd = sum(
            (
                _figure(o, "gross_pay") - _figure(o, "section125")
                for o in others
                if int(o["tax_year"]) == tax_year and _date(o["pay_date"]) < pay_date
            ),
            ZERO,
        )
    except (KeyError, TypeError, ValueError):
        return None
    if tax_year not in tables:
        try:
            tables[tax_year] = tables_for(tax_year)
        except UnknownTaxYear:
            tables[tax_year] = None
    year = tables[tax_year]
    if year is None:
        return None
    taxes = fica_taxes(
        year.fica,
        year.futa,
        fica_wages=fica_wages,
        ytd_social_security_wages=ytd,
        ytd_medicare_wages=ytd,
        ytd_futa_wages=ytd,
    )
    recomputed = {
        "social_security": taxes.social_security,
        "employer_social_security": taxes.employer_social_security,
        "additional_medicare": taxes.additional_medicare,
        "futa": taxes.futa,
    }
    return all(recorded[name] == recomputed[name] for name in YTD_FIGURES)


def _figure(row: Row, name: str) -> Decimal:
    amount = _money(row[name])
    if amount is None:
        raise ValueError(f"{name} is not an amount: {row[name]!r}")
    return amount


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _status_mismatches(
    employee_status: Iterable[Row], accepted: Mapping[str, Sequence[Decimal | None]]
) -> list[str]:
    """EmployeeStatus PAID without an accepted payment, or an accepted payment without
    PAID (MoneyMovement stopped between the provider's answer and the status write)."""
    paid = {str(i["employee_id"]) for i in employee_status if i.get("status") == "PAID"}
    return sorted(paid.symmetric_difference(e for e, amounts in accepted.items() if amounts))


def _ledger_mismatches(
    ledger_payments: Iterable[Row], accepted: Mapping[str, Sequence[Decimal | None]]
) -> list[str]:
    """The ledger's payments row disagrees with the provider: ACCEPTED without an
    accepted payment, an accepted payment not recorded ACCEPTED, or another amount."""
    rows = {str(row["employee_id"]): row for row in ledger_payments}
    mismatched: list[str] = []
    for employee in sorted(set(rows) | set(accepted)):
        row = rows.get(employee)
        amounts = accepted.get(employee, ())
        recorded = row is not None and row.get("status") == "ACCEPTED"
        if recorded != bool(amounts) or (
            row is not None and recorded and _money(row.get("amount")) not in amounts
        ):
            mismatched.append(employee)
    return mismatched


def _iter_chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


__all__ = ["DETAILS_CAP", "Evidence", "evaluate", "gather", "peek", "read_dead_letters"]
