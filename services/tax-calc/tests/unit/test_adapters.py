"""prepare: one query per chunk, this year before the pay date, every employee of the
chunk in it (the database itself is covered
by the platform's ledger tests)."""

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from factories import employee_record, step_request
from tax_calc import adapters

from payroll_platform.db.repository import YearToDate
from payroll_shared.contracts import TaxCalcRequest


def test_prepare_loads_the_chunk_year_to_date_in_one_session(monkeypatch):
    calls, sessions = [], []

    @contextmanager
    def session_scope(engine):
        sessions.append(engine)
        yield "session"

    def year_to_date(session, ids, tax_year, before):
        calls.append((session, list(ids), tax_year, before))
        return {
            i: YearToDate(i, tax_year, gross=Decimal(tax_year), fica_wages=Decimal(tax_year - 1))
            for i in ids
        }

    monkeypatch.setattr(adapters, "get_engine", lambda: "engine")
    monkeypatch.setattr(adapters, "session_scope", session_scope)
    monkeypatch.setattr(adapters, "year_to_date", year_to_date)
    items = [
        {"employee_id": e, "record": employee_record(employee_id=e), "results": {}}
        for e in ("e1", "e2")
    ]
    request = TaxCalcRequest.model_validate(step_request("tax_calc", items=items))
    context = adapters.prepare(request)
    assert sessions == ["engine"]
    assert calls == [
        ("session", ["e1", "e2"], 2026, date(2026, 11, 27)),
    ]
    assert context.tax_year == 2026
    assert context.by_employee["e2"].gross == Decimal(2026)
    assert context.by_employee["e2"].fica_wages == Decimal(2025)
