"""Redrive passes: claim, decide, act, delete what is done, release the rest.

- ``redrive``: the process DLQ, used by the API (one record, or all matching) and by
  the schedule;
- ``replay_triggers`` (schedule): pay-run triggers on the orchestration DLQ;
- ``replay_consumer_dlqs`` (schedule): what SQS moved to employer-validation's and
  money-movement's own DLQs after ``maxReceiveCount`` failed deliveries, sent back to
  the source queue (``logic.consumer_dlq_decision`` says which).

The messages are claimed (hidden) while a pass works, so two passes at once (the
schedule and a person) do not both act on one; whatever is not done is released at
the end. A message is deleted only after its work is in hand (GetEmployers started the
employees, the employer or the run, the PushPayment or the replay was sent) or when it
is stale (the employees or the employer no longer wait for a redrive); if the pass dies
before deleting, the message reappears and a second pass names the same execution
(nothing runs twice), sends the same payment attempt (MoneyMovement pays nobody twice)
or replays the message once more (both consumers are idempotent, see ``CONSUMER_DLQS``).
"""

from __future__ import annotations

from collections.abc import Callable

from payroll_shared.names import Env
from payroll_shared.settings import setting
from redrive import adapters, logic
from redrive.logic import DeadLetterEntry, RedriveOutcome, RedriveReport
from redrive.observability import logger

Select = Callable[[list[DeadLetterEntry]], list[DeadLetterEntry]]


class NothingToRedrive(LookupError):
    """The selection matched no record on the process DLQ."""


def redrive(
    select: Select, *, automatic: bool, requested_by: str, max_attempts: int
) -> RedriveReport:
    queue = setting(Env.PROCESS_DLQ_URL)
    depth = adapters.depth(queue, "process")
    claimed = adapters.claim(queue, depth.visible)
    done: set[str] = set()
    try:
        entries, _ = logic.parse(claimed)
        chosen = select(entries)
        if not chosen:
            raise NothingToRedrive("no matching dead letter on the process DLQ")
        plan = logic.plan_redrive(
            chosen, automatic=automatic, max_attempts=max_attempts, requested_by=requested_by
        )
        outcomes = [*plan.left, *_act(plan)]
        finished = {o.record_id for o in outcomes if o.action in logic.DONE_ACTIONS}
        message_ids = {m for e in chosen if e.record.record_id in finished for m in e.message_ids}
        targets = [m for m in claimed if m.message_id in message_ids]
        adapters.delete(queue, targets)
        done = {m.message_id for m in targets}
    finally:
        adapters.release(queue, [m for m in claimed if m.message_id not in done])
    result = logic.report(outcomes)
    for item in outcomes:
        logger.info(
            "dead letter redrive",
            extra={"requested_by": requested_by, "automatic": automatic, **item.model_dump()},
        )
    return result


def _act(plan: logic.RedrivePlan) -> list[RedriveOutcome]:
    outcomes: list[RedriveOutcome] = []
    if plan.batches:
        function = setting(Env.GET_EMPLOYERS_FUNCTION)
        for batch in plan.batches:
            try:
                result = adapters.invoke_get_employers(function, batch.request)
            except Exception as exc:  # one employer's trouble does not stop the others
                logger.exception(
                    "redrive call failed", extra={"employer_id": batch.request.employer_id}
                )
                outcomes += [
                    logic.outcome(entry, "error", f"{type(exc).__name__}: {exc}"[:500])
                    for entry in batch.entries
                ]
                continue
            outcomes += logic.batch_outcomes(batch, result)
    if plan.employers:
        function = setting(Env.GET_EMPLOYERS_FUNCTION)
        for employer in plan.employers:
            try:
                answer = adapters.invoke_redrive_employer(function, employer.request)
            except Exception as exc:  # one employer's trouble does not stop the others
                logger.exception(
                    "employer redrive failed", extra={"employer_id": employer.request.employer_id}
                )
                outcomes.append(
                    logic.outcome(employer.entry, "error", f"{type(exc).__name__}: {exc}"[:500])
                )
                continue
            outcomes.append(logic.employer_outcome(employer, answer))
    if plan.payments:
        queue = setting(Env.PUSH_PAYMENT_QUEUE_URL)
        for retry in plan.payments:
            try:
                adapters.send_push_payment(queue, retry.push)
            except Exception as exc:
                logger.exception(
                    "payment redrive failed", extra={"record_id": retry.entry.record.record_id}
                )
                outcomes.append(
                    logic.outcome(retry.entry, "error", f"{type(exc).__name__}: {exc}"[:500])
                )
                continue
            outcomes.append(
                logic.outcome(
                    retry.entry,
                    "payment-sent",
                    f"PushPayment sent as payment attempt {retry.push.payment_attempt}",
                    attempt=retry.push.payment_attempt,
                )
            )
    return outcomes


def replay_triggers(max_attempts: int) -> dict[str, int]:
    """Give each pay-run trigger on the orchestration DLQ to GetEmployers again."""
    queue = setting(Env.ORCHESTRATION_DLQ_URL)
    depth = adapters.depth(queue, "orchestration")
    claimed = adapters.claim(queue, depth.visible)
    tally = {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0}
    done: list[adapters.ReceivedMessage] = []
    try:
        for message in claimed:
            action = logic.trigger_action(message.error_code, message.receive_count, max_attempts)
            body = logic.replay_body(message.body)
            if action != "replay" or body is None:
                key = "parked" if action == "parked" else "needs_person"
                tally[key] += 1
                continue
            try:
                answer = adapters.invoke_trigger(setting(Env.GET_EMPLOYERS_FUNCTION), body)
            except Exception:
                logger.exception("trigger replay failed", extra={"message_id": message.message_id})
                tally["failed"] += 1
                continue
            if answer.get("status") in logic.TRIGGER_DONE:
                done.append(message)
                tally["replayed"] += 1
            else:
                tally["needs_person"] += 1
        adapters.delete(queue, done)
    finally:
        handled = {m.message_id for m in done}
        adapters.release(queue, [m for m in claimed if m.message_id not in handled])
    logger.info("pay-run triggers replayed", extra=tally)
    return tally


#: The consumers whose own DLQ the schedule replays: name -> (its DLQ, its source queue).
#:
#: Replaying is safe because both consumers take a redelivered message as a no-op for
#: whatever is already done (see their handlers):
#:
#: - employer-validation commits the pay statements in one transaction, unique on pay
#:   run and employee (a redelivery commits nothing twice), moves statuses only forward
#:   by conditional writes, and sends the PushPayment again only while the employer is
#:   not PAID; a FAILED employee's record on the process DLQ repeats its record id, so
#:   a copy collapses with the first;
#: - money-movement skips PAID employees, never pays an ACCEPTED payment again, pays a
#:   PENDING one again only under its own idempotency key (the provider replays it) and
#:   a REJECTED one only on a higher ``payment_attempt`` (a replay keeps the attempt),
#:   and publishes the completion notice only for an employer not yet notified.
#:
#: So a replay can never commit or pay twice.
CONSUMER_DLQS: dict[str, tuple[Env, Env]] = {
    "employer-validation": (Env.EMPLOYER_COMPLETION_DLQ_URL, Env.EMPLOYER_COMPLETION_QUEUE_URL),
    "money-movement": (Env.PUSH_PAYMENT_DLQ_URL, Env.PUSH_PAYMENT_QUEUE_URL),
}


def replay_consumer_dlqs(max_attempts: int) -> dict[str, dict[str, int]]:
    """Replay each consumer DLQ of ``CONSUMER_DLQS``; a tally per consumer."""
    return {
        name: replay_consumer_dlq(name, setting(dlq), setting(source), max_attempts)
        for name, (dlq, source) in CONSUMER_DLQS.items()
    }


def replay_consumer_dlq(
    name: str, dlq_url: str, source_url: str, max_attempts: int
) -> dict[str, int]:
    """Send what SQS dead-lettered on transient trouble back to its source queue.

    Each replay carries the message's body and attributes and its replay count one up
    (``logic.REPLAYS_ATTRIBUTE``); a malformed message (dead-lettered by its consumer)
    and a message replayed ``max_attempts`` times stay on the DLQ for a person.
    """
    depth = adapters.depth(dlq_url, name)
    logger.info(
        "dead-letter queue depth",
        extra={
            "queue": depth.queue,
            "visible": depth.visible,
            "in_flight": depth.in_flight,
            "delayed": depth.delayed,
        },
    )
    claimed = adapters.claim(dlq_url, depth.visible)
    tally = {"replayed": 0, "parked": 0, "needs_person": 0, "failed": 0}
    done: list[adapters.ReceivedMessage] = []
    try:
        for message in claimed:
            decision = logic.consumer_dlq_decision(message.message_attributes, max_attempts)
            if decision.action != "replay":
                tally["parked" if decision.action == "parked" else "needs_person"] += 1
                logger.warning(
                    "consumer dead letter left for a person",
                    extra={
                        "queue": name,
                        "message_id": message.message_id,
                        "action": decision.action,
                        "detail": decision.detail,
                    },
                )
                continue
            try:
                adapters.send_replay(
                    source_url,
                    message.body,
                    logic.replay_attributes(message.message_attributes, decision.replays),
                )
            except Exception:
                logger.exception(
                    "consumer dead letter replay failed",
                    extra={"queue": name, "message_id": message.message_id},
                )
                tally["failed"] += 1
                continue
            done.append(message)
            tally["replayed"] += 1
        adapters.delete(dlq_url, done)
    finally:
        handled = {m.message_id for m in done}
        adapters.release(dlq_url, [m for m in claimed if m.message_id not in handled])
    logger.info("consumer dead letters replayed", extra={"queue": name, **tally})
    return tally
