"""The only code of this service that talks to the outside: the payment API over HTTP.

``PaymentClient`` sends one payment per call with ``requests``:

- connect and read timeouts on every request, so a hung provider cannot hold the
  function until its own timeout;
- retries with exponential backoff (urllib3 ``Retry``) on connection errors, read
  timeouts, 429 and 5xx. POST is not retried by default because it is not
  idempotent; here it is, because every request carries ``Idempotency-Key`` derived
  from (pay run, employee): if the first attempt reached the provider and only its
  answer was lost, the retry is answered from the provider's idempotency store with
  the same payment, not a second one;
- the final answer is interpreted by ``logic.interpret``: accepted, declined, or an
  error that says whether a later retry can help (``PaymentUnavailable``) or not.

The account token is sent to the provider and nowhere else: it is never logged.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from money_movement import logic
from money_movement.logic import PaymentInstruction, PaymentResult, PaymentUnavailable
from payroll_shared.names import Env
from payroll_shared.settings import setting

#: Seconds to open a connection (slightly over a TCP retransmit window) and to read.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
#: Attempts after the first one, and the backoff base: 0.5 s, 1 s, 2 s between them.
RETRIES = 3
BACKOFF_FACTOR = 0.5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "payroll-money-movement/0.1"


def retry_policy(retries: int = RETRIES, backoff_factor: float = BACKOFF_FACTOR) -> Retry:
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=10.0,
        status_forcelist=RETRY_STATUSES,
        # POST is safe to repeat only because of the idempotency key (see module doc).
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        # Give back the last response instead of raising, so its body can be read.
        raise_on_status=False,
    )


class PaymentClient:
    """One payment API, one HTTP session with its connection pool and retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        retries: int = RETRIES,
        backoff_factor: float = BACKOFF_FACTOR,
    ) -> None:
        self.url = logic.payments_url(base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff_factor))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    @classmethod
    def from_environment(cls) -> PaymentClient:
        return cls(setting(Env.PAYMENT_API_URL))

    def pay(self, instruction: PaymentInstruction) -> PaymentResult:
        """Send one payment; the same instruction always carries the same idempotency key."""
        body = logic.payment_body(instruction)
        key = logic.idempotency_key(instruction.pay_run_id, instruction.employee_id)
        try:
            response = self.session.post(
                self.url, json=body, headers={"Idempotency-Key": key}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            # Retries exhausted on connection errors or read timeouts.
            raise PaymentUnavailable(
                f"payment API unreachable for {body['reference']}: {type(exc).__name__}"
            ) from exc
        return logic.interpret(instruction, response.status_code, _json(response), response.headers)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
