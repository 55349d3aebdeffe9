"""401(k)/403(b) deferral and employer match for one period.

Order of the limits, each taken from year-to-date figures so that no annual limit
is ever exceeded, whatever the period:

1. Eligible compensation: the period's pay, capped so that year-to-date plan
   compensation never exceeds the 401(a)(17) limit.
2. Requested deferral: percent x eligible compensation (rounded once), or the flat
   amount (never more than the period's pay).
3. 402(g): the employee's annual limit is the elective-deferral limit plus the
   catch-up for the age the employee reaches by the end of the year (50 and over;
   the larger SECURE 2.0 catch-up at 60 to 63). The deferral is cut to what remains
   after year-to-date deferrals. Deferrals above the 402(g) limit are catch-up.
4. 415(c): annual additions (deferrals other than catch-up, plus employer match)
   never exceed the limit: the non-catch-up deferral, then the match, are cut to the
   room left after year-to-date additions.
5. From the year the tables say so (2026), the catch-up of an employee whose
   prior-year FICA wages exceeded the threshold is Roth (414(v)(7)); it is reported
   as ``roth_catch_up`` and does not reduce income-tax wages.

The match is computed per period on that period's deferral and eligible pay (no
annual true-up): safe harbor basic = 100% of deferrals up to 3% of pay + 50% of
deferrals between 3% and 5%; flat percent = ``match_percent`` of deferrals up to
``match_cap_percent`` of pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from payroll_shared.calc.errors import PaycheckError
from payroll_shared.calc.tables import RetirementLimits
from payroll_shared.contracts.employee import MatchFormula
from payroll_shared.money import ZERO, round_cents

HUNDRED = Decimal(100)
SAFE_HARBOR_FULL = Decimal("0.03")
SAFE_HARBOR_HALF = Decimal("0.02")
_SAFE_HARBOR = MatchFormula.SAFE_HARBOR_BASIC
_FLAT_PERCENT = MatchFormula.FLAT_PERCENT


@dataclass(frozen=True, slots=True)
class RetirementElectionInput:
    """The plain-data election (the contract's ``RetirementElection`` carries the same)."""

    deferral_percent: Decimal | None = None
    deferral_amount: Decimal | None = None
    roth: bool = False
    match_formula: MatchFormula = MatchFormula.NONE
    match_percent: Decimal | None = None
    match_cap_percent: Decimal | None = None


class RetirementYtd(NamedTuple):
    deferrals: Decimal = ZERO
    employer_match: Decimal = ZERO
    compensation: Decimal = ZERO
    prior_year_fica_wages: Decimal = ZERO


class RetirementContributions(NamedTuple):
    eligible_compensation: Decimal
    requested_deferral: Decimal
    deferral: Decimal  # total employee deferral withheld this period
    pre_tax_deferral: Decimal  # traditional: reduces income-tax wages
    roth_deferral: Decimal  # after-tax, including roth_catch_up
    catch_up: Decimal  # the part of this period's deferral above the 402(g) limit
    roth_catch_up: Decimal  # catch-up that must be Roth (prior-year wages over threshold)
    employer_match: Decimal


NO_CONTRIBUTIONS = RetirementContributions(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)


def catch_up_limit(limits: RetirementLimits, age_at_year_end: int) -> Decimal:
    if 60 <= age_at_year_end <= 63:
        return limits.catch_up_60_63
    if age_at_year_end >= 50:
        return limits.catch_up_50
    return ZERO


def employer_match(
    election: RetirementElectionInput, eligible_pay: Decimal, deferral: Decimal
) -> Decimal:
    formula = election.match_formula
    if formula is _SAFE_HARBOR:
        first = min(deferral, eligible_pay * SAFE_HARBOR_FULL)
        next_two = min(max(deferral - first, ZERO), eligible_pay * SAFE_HARBOR_HALF)
        return round_cents(first + next_two / 2)
    if formula is _FLAT_PERCENT:
        if election.match_percent is None:
            raise PaycheckError("required for a flat_percent match", "retirement.match_percent")
        cap = election.match_cap_percent
        matched = deferral if cap is None else min(deferral, eligible_pay * cap / HUNDRED)
        return round_cents(matched * election.match_percent / HUNDRED)
    return ZERO


def retirement_contributions(
    limits: RetirementLimits,
    election: RetirementElectionInput,
    *,
    pay: Decimal,
    age_at_year_end: int,
    ytd: RetirementYtd,
) -> RetirementContributions:
    """The period's deferral split and employer match, within every annual limit."""
    if election.deferral_percent is None and election.deferral_amount is None:
        return NO_CONTRIBUTIONS  # both match formulas match deferrals: none, no match
    eligible = min(pay, max(limits.compensation_limit - ytd.compensation, ZERO))
    if election.deferral_amount is not None:
        requested = min(election.deferral_amount, pay)
    elif election.deferral_percent is not None:
        requested = round_cents(eligible * election.deferral_percent / HUNDRED)
    else:
        requested = ZERO

    base_limit = limits.elective_deferral_limit
    annual_limit = base_limit + catch_up_limit(limits, age_at_year_end)
    deferral = max(min(requested, annual_limit - ytd.deferrals), ZERO)
    # The part of the year's deferrals above 402(g) is catch-up; this period's share:
    catch_up = max(ytd.deferrals + deferral - max(base_limit, ytd.deferrals), ZERO)
    regular = deferral - catch_up

    # 415(c): catch-up contributions are not annual additions.
    ytd_additions = min(ytd.deferrals, base_limit) + ytd.employer_match
    room = max(limits.annual_additions_limit - ytd_additions, ZERO)
    regular = min(regular, room)
    deferral = regular + catch_up
    match = min(employer_match(election, eligible, deferral), room - regular)

    mandatory_roth = (
        limits.roth_catch_up_required
        and ytd.prior_year_fica_wages > limits.roth_catch_up_wage_threshold
    )
    roth_catch_up = catch_up if mandatory_roth else ZERO
    roth = deferral if election.roth else roth_catch_up
    # positional (field order) in the hot path: cheaper than keywords
    return RetirementContributions(
        eligible,  # eligible_compensation
        requested,  # requested_deferral
        deferral,
        deferral - roth,  # pre_tax_deferral
        roth,  # roth_deferral
        catch_up,
        roth_catch_up,
        match,  # employer_match
    )
