"""Putting dead-letter records on the process DLQ: one place for every service.

A record travels as its JSON body with its identity repeated as message attributes
(record id, source, error code, pay run, employer, step), so the redrive API can
filter without parsing bodies. Attributes without a value are left out (SQS refuses
empty strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from payroll_shared import aws
from payroll_shared.contracts import DeadLetterRecord
from payroll_shared.names import Env
from payroll_shared.settings import setting

#: SendMessageBatch takes at most ten entries.
SQS_BATCH = 10


class DeadLetterSendFailed(RuntimeError):
    """The process DLQ refused a record: the caller fails and its message comes back."""


def attributes(record: DeadLetterRecord) -> dict[str, Any]:
    values = {
        "record_id": record.record_id,
        "source": record.source.value,
        "error_code": record.error.code,
        "pay_run_id": record.pay_run_id,
        "employer_id": record.employer_id,
        "step": record.step.value if record.step else None,
    }
    return {
        name: {"DataType": "String", "StringValue": value}
        for name, value in values.items()
        if value
    }


def send(records: Sequence[DeadLetterRecord]) -> None:
    """Put each record on the process DLQ (``PROCESS_DLQ_URL``), ten per request."""
    client = aws.client("sqs")
    queue_url = setting(Env.PROCESS_DLQ_URL)
    for start in range(0, len(records), SQS_BATCH):
        batch = records[start : start + SQS_BATCH]
        entries = [
            {
                "Id": str(index),
                "MessageBody": record.model_dump_json(),
                "MessageAttributes": attributes(record),
            }
            for index, record in enumerate(batch)
        ]
        response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = response.get("Failed", [])
        if failed:
            ids = [batch[int(f["Id"])].record_id for f in failed]
            raise DeadLetterSendFailed(f"process DLQ refused {len(failed)} record(s): {ids}")
