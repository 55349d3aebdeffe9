"""``payroll paycheck``: one employee's period as JSON in, the paycheck as JSON out.

Reads the JSON from the file named by the one argument, or from stdin when there is
none (or it is ``-``). Exit 0 with the paycheck on stdout; exit 2 with a message on
stderr naming the field for invalid input; exit 1 for a paycheck the rules refuse
(negative net pay). No cloud, no database.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from decimal import Decimal

from pydantic import ValidationError

from payroll_shared.calc.errors import PaycheckError
from payroll_shared.calc.paycheck import PaycheckInput, compute_paycheck
from payroll_shared.contracts.base import describe_validation_error

INVALID_INPUT = 2
REFUSED = 1


def _read(argv: Sequence[str]) -> str:
    if not argv or argv[0] == "-":
        return sys.stdin.read()
    with open(argv[0], encoding="utf-8") as source:
        return source.read()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        sys.stderr.write("usage: payroll paycheck [FILE|-]\n")
        return INVALID_INPUT
    try:
        text = _read(args)
    except OSError as exc:
        sys.stderr.write(f"paycheck: cannot read {args[0]}: {exc.strerror}\n")
        return INVALID_INPUT
    try:
        # JSON numbers become exact Decimals (hours like 7.5), never binary floats.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        sys.stderr.write(f"paycheck: not JSON: {exc}\n")
        return INVALID_INPUT
    if not isinstance(data, dict):
        sys.stderr.write("paycheck: <input>: expected a JSON object\n")
        return INVALID_INPUT
    try:
        paycheck = compute_paycheck(PaycheckInput.model_validate(data))
    except ValidationError as exc:
        sys.stderr.write(f"paycheck: invalid input: {describe_validation_error(exc)}\n")
        return INVALID_INPUT
    except PaycheckError as exc:
        kind = "invalid input" if exc.invalid_input else "refused"
        sys.stderr.write(f"paycheck: {kind}: {exc}\n")
        return INVALID_INPUT if exc.invalid_input else REFUSED
    sys.stdout.write(paycheck.model_dump_json(indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
