"""``evaluate`` on hand-built evidence: a clean run holds, each kind of harm is caught."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from payroll_platform.chaos.invariants import DETAILS_CAP, Evidence, evaluate

PAY_RUN = "pr-weekly-2026-07-31"
EMPLOYERS = {"er-1": ("ee-1", "ee-2"), "er-2": ("ee-3", "ee-4")}
NET_PAY = {"ee-1": "1500.00", "ee-2": "1600.00", "ee-3": "1700.00", "ee-4": "1800.00"}


def statement(employee: str, employer: str, **figures: str) -> dict[str, Any]:
    """A committed statement: 2,000.00 gross with nothing paid earlier in 2026, so Social
    Security 6.2% of it, Medicare 1.45%, FUTA 0.6% (under the 7,000 wage base)."""
    row: dict[str, Any] = {
        "pay_run_id": PAY_RUN,
        "employee_id": employee,
        "employer_id": employer,
        "pay_date": "2026-07-31",
        "tax_year": 2026,
        "gross_pay": "2000.00",
        "section125": "0.00",
        "taxable_wages": "2000.00",
        "retirement_deferral": "0.00",
        "employer_match": "0.00",
        "social_security": "124.00",
        "employer_social_security": "124.00",
        "medicare": "29.00",
        "employer_medicare": "29.00",
        "additional_medicare": "0.00",
        "futa": "12.00",
        "net_pay": NET_PAY.get(employee, "1000.00"),
    }
    row.update(figures)
    return row


def earlier(employee: str, employer: str, pay_date: str, gross_pay: str) -> dict[str, Any]:
    """Another pay run's statement of the employee (what year to date sums)."""
    return {
        "pay_run_id": f"pr-weekly-{pay_date}",
        "employee_id": employee,
        "employer_id": employer,
        "pay_date": pay_date,
        "tax_year": int(pay_date[:4]),
        "gross_pay": gross_pay,
        "section125": "0.00",
        "taxable_wages": gross_pay,
        "retirement_deferral": "0.00",
        "employer_match": "0.00",
    }


def payment(employee: str, amount: str, *, attempt: int = 1, status: str = "accepted") -> dict:
    key = f"{PAY_RUN}:{employee}" + ("" if attempt == 1 else f":a{attempt}")
    return {
        "payment_id": f"pay_{employee}_{attempt}",
        "status": status,
        "amount": amount,
        "currency": "USD",
        "reference": f"{PAY_RUN}/{employee}",
        "idempotency_key": key,
    }


def clean() -> Evidence:
    """Every employee committed, paid once at the net pay, one notice per employer."""
    pairs = [(e, r) for r, employees in EMPLOYERS.items() for e in employees]
    return Evidence(
        pay_run_id=PAY_RUN,
        expected_employees={e: r for e, r in pairs},
        payments=[payment(e, NET_PAY[e]) for e, _ in pairs],
        ledger_payments=[
            {
                "pay_run_id": PAY_RUN,
                "employee_id": e,
                "idempotency_key": f"{PAY_RUN}:{e}",
                "amount": NET_PAY[e],
                "status": "ACCEPTED",
            }
            for e, _ in pairs
        ],
        statements=[statement(e, r) for e, r in pairs],
        employee_status=[
            {
                "pk": f"{PAY_RUN}#{r}",
                "employee_id": e,
                "pay_run_id": PAY_RUN,
                "employer_id": r,
                "status": "PAID",
            }
            for e, r in pairs
        ],
        employer_status=[
            {"pay_run_id": PAY_RUN, "employer_id": r, "status": "PAID"} for r in EMPLOYERS
        ],
        notices=[{"pay_run_id": PAY_RUN, "employer_id": r, "status": "PAID"} for r in EMPLOYERS],
    )


def unpaid(evidence: Evidence, employee: str) -> None:
    """The employee's payment never got through (refused or never sent)."""
    evidence.payments = [p for p in evidence.payments if not p["reference"].endswith(employee)]
    evidence.ledger_payments = [p for p in evidence.ledger_payments if p["employee_id"] != employee]
    for item in evidence.employee_status:
        if item["employee_id"] == employee:
            item["status"] = "COMMITTED"


def row_of(rows: list[dict[str, Any]], employee: str) -> dict[str, Any]:
    return next(row for row in rows if row["employee_id"] == employee)


def payment_of(evidence: Evidence, employee: str) -> dict[str, Any]:
    return next(p for p in evidence.payments if p["reference"] == f"{PAY_RUN}/{employee}")


def test_a_clean_run_holds():
    result = evaluate(clean())

    assert result["invariants_hold"] is True
    assert result["employees"] == 4
    assert result["paid_once"] == 4
    for key in (
        "paid_twice",
        "unpaid_without_dead_letter",
        "unpaid_with_dead_letter",
        "amount_mismatches",
        "ytd_mismatches",
        "notices_duplicated",
        "notices_missing",
        "status_mismatches",
        "ledger_mismatches",
    ):
        assert result[key] == 0, key
        assert result["details"][key] == [], key
    assert result["ytd_checked"] == 4
    assert result["notices"] == 2
    assert result["payments_accepted_total"] == "6600.00"
    assert result["statements_net_total"] == "6600.00"
    assert result["employee_states"] == {"PAID": 4}
    assert result["employer_states"] == {"PAID": 2}
    # Written as JSON by the caller: nothing but plain values in it.
    assert json.loads(json.dumps(result)) == result


def duplicate_payment(evidence: Evidence) -> None:
    # The provider paid a second time under another key (a lost idempotency key).
    evidence.payments.append(payment("ee-1", NET_PAY["ee-1"], attempt=2))


def one_cent_off(evidence: Evidence) -> None:
    payment_of(evidence, "ee-2")["amount"] = "1600.01"


def paid_without_statement(evidence: Evidence) -> None:
    # Someone nobody expected, with no statement behind the money.
    evidence.payments.append(payment("ee-9", "100.00"))


def second_statement(evidence: Evidence) -> None:
    # The same employee and pay run committed twice: counted twice in every later YTD.
    evidence.statements.append(statement("ee-3", "er-2"))


def ytd_counts_this_run(evidence: Evidence) -> None:
    # 6,000 paid a week earlier: 1,000 of this run's 2,000 is under the 7,000 FUTA base
    # (FUTA 6.00). Counting this run's own 2,000 as year to date too (8,000) leaves
    # nothing under the base: FUTA 0.00.
    evidence.other_statements.append(earlier("ee-4", "er-2", "2026-07-24", "6000.00"))
    row_of(evidence.statements, "ee-4")["futa"] = "0.00"


def ytd_missed_a_statement(evidence: Evidence) -> None:
    # 184,000 paid earlier: only 500 of this run is under the Social Security wage base
    # (184,500): 31.00 each. A year to date that missed the earlier statement taxes all.
    evidence.other_statements.append(earlier("ee-1", "er-1", "2026-07-24", "184000.00"))
    row_of(evidence.statements, "ee-1")["futa"] = "0.00"


def second_notice(evidence: Evidence) -> None:
    evidence.notices.append({"pay_run_id": PAY_RUN, "employer_id": "er-2", "status": "PAID"})


def skipped(evidence: Evidence) -> None:
    unpaid(evidence, "ee-4")


HARMS: list[tuple[Callable[[Evidence], None], str, str]] = [
    (duplicate_payment, "paid_twice", "ee-1"),
    (one_cent_off, "amount_mismatches", "ee-2"),
    (paid_without_statement, "amount_mismatches", "ee-9"),
    (second_statement, "ytd_mismatches", "ee-3"),
    (ytd_counts_this_run, "ytd_mismatches", "ee-4"),
    (ytd_missed_a_statement, "ytd_mismatches", "ee-1"),
    (second_notice, "notices_duplicated", "er-2"),
    (skipped, "unpaid_without_dead_letter", "ee-4"),
]


@pytest.mark.parametrize(("harm", "key", "offender"), HARMS, ids=[h[0].__name__ for h in HARMS])
def test_each_harm_breaks_the_invariants_and_is_named(
    harm: Callable[[Evidence], None], key: str, offender: str
) -> None:
    evidence = clean()
    harm(evidence)

    result = evaluate(evidence)

    assert result["invariants_hold"] is False
    assert result[key] == 1
    assert result["details"][key] == [offender]
    assert json.loads(json.dumps(result)) == result


def test_the_right_year_to_date_holds_and_is_checked():
    # The earlier statements counted as the tax step counts them: same tax year, paid
    # before this pay date. Last year's and a later pay date's statements do not count.
    evidence = clean()
    evidence.other_statements += [
        earlier("ee-4", "er-2", "2026-07-24", "6000.00"),
        earlier("ee-4", "er-2", "2025-12-26", "90000.00"),
        earlier("ee-4", "er-2", "2026-08-07", "2000.00"),
        earlier("ee-1", "er-1", "2026-07-24", "184000.00"),
    ]
    row_of(evidence.statements, "ee-4")["futa"] = "6.00"
    ee1 = row_of(evidence.statements, "ee-1")
    ee1.update(social_security="31.00", employer_social_security="31.00", futa="0.00")
    # Over 200,000 of Medicare wages: Additional Medicare on 1,500 of this run (0.9%).
    evidence.other_statements.append(earlier("ee-1", "er-1", "2026-06-26", "15500.00"))
    ee1["additional_medicare"] = "13.50"
    ee1["social_security"] = ee1["employer_social_security"] = "0.00"

    result = evaluate(evidence)

    assert result["ytd_mismatches"] == 0, result["details"]
    assert result["ytd_checked"] == 4
    assert result["invariants_hold"] is True


def test_a_statement_that_cannot_be_recomputed_is_not_counted_as_checked():
    evidence = clean()
    row_of(evidence.statements, "ee-1")["tax_year"] = 1999  # no rule tables for it

    result = evaluate(evidence)

    assert result["ytd_checked"] == 3
    assert result["ytd_mismatches"] == 0
    assert result["invariants_hold"] is True


PROCESS_RECORD = {
    "record_id": f"{PAY_RUN}/er-2/ee-4/payment",
    "source": "payment",
    "pay_run_id": PAY_RUN,
    "employer_id": "er-2",
    "employee_id": "ee-4",
    "error": {"code": "account_invalid", "message": "the account token was declined"},
    "attempts": 1,
    "queue": "process",
}
PUSH_PAYMENT_ON_ITS_DLQ = {
    "pay_run": {"pay_run_id": PAY_RUN, "pay_schedule": "weekly"},
    "employer_id": "er-2",
    "statements": 2,
    "net_total": "3500.00",
    "queue": "money-movement",
    "pay_run_id": PAY_RUN,
}
TRIGGER_ON_ITS_DLQ = {
    "pay_schedule": "weekly",
    "pay_date": "2026-07-31",
    "requested_by": "cli",
    "queue": "orchestration",
    "pay_run_id": PAY_RUN,
}


@pytest.mark.parametrize(
    ("record", "unpaid_employees"),
    [
        (PROCESS_RECORD, ["ee-4"]),
        (PUSH_PAYMENT_ON_ITS_DLQ, ["ee-3", "ee-4"]),
        (TRIGGER_ON_ITS_DLQ, ["ee-1", "ee-2", "ee-3", "ee-4"]),
    ],
    ids=["employee-record", "employer-message", "pay-run-trigger"],
)
def test_an_unpaid_employee_named_by_a_dead_letter_holds(
    record: dict[str, Any], unpaid_employees: list[str]
) -> None:
    evidence = clean()
    for employee in unpaid_employees:
        unpaid(evidence, employee)
    evidence.dead_letters.append(copy.deepcopy(record))

    result = evaluate(evidence)

    assert result["invariants_hold"] is True
    assert result["unpaid_with_dead_letter"] == len(unpaid_employees)
    assert result["details"]["unpaid_with_dead_letter"] == unpaid_employees
    assert result["unpaid_without_dead_letter"] == 0
    assert result["paid_once"] == 4 - len(unpaid_employees)
    assert result["dead_letters"] == 1


def test_a_dead_letter_for_someone_else_does_not_cover_an_unpaid_employee():
    evidence = clean()
    unpaid(evidence, "ee-4")
    evidence.dead_letters.append({**PROCESS_RECORD, "employee_id": "ee-3"})

    result = evaluate(evidence)

    assert result["invariants_hold"] is False
    assert result["details"]["unpaid_without_dead_letter"] == ["ee-4"]


def test_a_refused_payment_redriven_and_accepted_is_paid_once():
    evidence = clean()
    first = payment_of(evidence, "ee-2")
    first.update(status="rejected", payment_id="pay_ee-2_declined")
    evidence.payments.append(payment("ee-2", NET_PAY["ee-2"], attempt=2))
    row_of(evidence.ledger_payments, "ee-2")["idempotency_key"] = f"{PAY_RUN}:ee-2:a2"

    result = evaluate(evidence)

    assert result["invariants_hold"] is True
    assert result["paid_once"] == 4
    assert result["paid_twice"] == 0


def test_status_and_ledger_disagreements_are_reported_without_breaking_the_run():
    # The provider accepted ee-1, but MoneyMovement stopped before PAID and before the
    # ledger said ACCEPTED (the money moved once: a record lags, nobody is harmed).
    evidence = clean()
    row_of(evidence.employee_status, "ee-1")["status"] = "COMMITTED"
    row_of(evidence.ledger_payments, "ee-1")["status"] = "PENDING"

    result = evaluate(evidence)

    assert result["status_mismatches"] == 1
    assert result["details"]["status_mismatches"] == ["ee-1"]
    assert result["ledger_mismatches"] == 1
    assert result["details"]["ledger_mismatches"] == ["ee-1"]
    assert result["invariants_hold"] is True


def test_paid_status_without_a_payment_is_a_status_mismatch():
    evidence = clean()
    evidence.payments = [p for p in evidence.payments if not p["reference"].endswith("ee-3")]
    evidence.dead_letters.append({**PROCESS_RECORD, "employee_id": "ee-3"})

    result = evaluate(evidence)

    assert result["details"]["status_mismatches"] == ["ee-3"]
    assert result["details"]["ledger_mismatches"] == ["ee-3"]


def test_a_fully_paid_employer_without_a_notice_is_reported():
    evidence = clean()
    evidence.notices = [n for n in evidence.notices if n["employer_id"] != "er-1"]

    result = evaluate(evidence)

    assert result["notices_missing"] == 1
    assert result["details"]["notices_missing"] == ["er-1"]
    assert result["invariants_hold"] is True


def test_details_are_capped_but_counts_are_exact():
    evidence = clean()
    extra = {f"ee-x{i:03d}": "er-3" for i in range(DETAILS_CAP + 10)}
    evidence.expected_employees.update(extra)

    result = evaluate(evidence)

    assert result["unpaid_without_dead_letter"] == DETAILS_CAP + 10
    assert result["details"]["unpaid_without_dead_letter"] == sorted(extra)[:DETAILS_CAP]
    assert result["employees"] == 4 + DETAILS_CAP + 10
