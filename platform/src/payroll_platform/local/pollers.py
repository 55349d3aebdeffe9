"""SQS pollers that behave like Lambda's SQS event source mapping.

Each poller long-polls its queue, invokes the function (through moto's Lambda Invoke,
so the real handler runs in the local runtime) with a batch shaped like Lambda's SQS
event, deletes what succeeded and leaves the rest: with ``ReportBatchItemFailures`` only
the listed records come back; on a function error the whole batch does. The visibility
timeout, the receive count and the move to the DLQ after ``maxReceiveCount`` are
SQS's own (moto's). ``retry_delay_s`` shortens the wait before a failed record is
visible again, so a local run does not sit out a six-times-the-timeout visibility.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from payroll_platform.local.faults import Faults, Point


@dataclass
class PollerStats:
    batches: int = 0
    records: int = 0
    deleted: int = 0
    failed_records: int = 0
    function_errors: int = 0


#: Longer than any function's timeout (Lambda's maximum is 900 s).
INVOKE_TIMEOUT_S = 960


@dataclass
class SqsPoller:
    session: boto3.session.Session
    queue_url: str
    queue_arn: str
    function_name: str
    batch_size: int = 10
    report_batch_item_failures: bool = True
    retry_delay_s: int | None = 2
    wait_time_s: int = 1
    stats: PollerStats = field(default_factory=PollerStats)
    #: The fault plan in force (chaos runs), asked once per batch received.
    faults: Callable[[], Faults | None] = lambda: None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sqs = self.session.client("sqs")
        # Like Lambda's event source mapping: wait as long as a function may run (15 min
        # at most) and never re-send an invocation on a timeout (the handler would run twice).
        self._lambda = self.session.client(
            "lambda", config=Config(read_timeout=INVOKE_TIMEOUT_S, retries={"max_attempts": 0})
        )
        self._lock = threading.Lock()

    def start(self, concurrency: int = 1) -> None:
        for index in range(concurrency):
            thread = threading.Thread(
                target=self._run, name=f"poller-{self.function_name}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def resume(self, concurrency: int = 1) -> None:
        """Start polling again after ``stop`` (a consumer brought back up)."""
        self._stop.clear()
        self.start(concurrency)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logging.getLogger(__name__).exception("poller %s", self.function_name)
                time.sleep(0.5)

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        region = self.session.region_name
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {
                        name: {
                            "stringValue": value.get("StringValue"),
                            "dataType": value.get("DataType"),
                        }
                        for name, value in message.get("MessageAttributes", {}).items()
                    },
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": region,
                }
                for message in messages
            ]
        }

    def _invoke(self, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
        response: dict[str, Any] = self._lambda.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(self._event(messages)).encode(),
        )
        payload: bytes = response["Payload"].read()
        return response, payload

    def _set_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        if messages:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": seconds,
                    }
                    for i, m in enumerate(messages)
                ],
            )

    def poll_once(self) -> int:
        """Receive one batch and run it; the number of records received."""
        received = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            WaitTimeSeconds=self.wait_time_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            return 0
        faults = self.faults()
        fault = None
        if faults is not None:
            key = f"{self.function_name}:" + ",".join(sorted(m["MessageId"] for m in messages))
            fault = faults.draw(Point.DELIVERY, key)
            if fault == "out_of_order":
                # One message waits behind the later ones; the rest go in reverse order.
                held = messages.pop(int(faults.uniform("held", key) * len(messages)))
                self._set_visibility([held], self.retry_delay_s or 1)
                messages.reverse()
                if not messages:
                    return 1
        if fault == "concurrent_duplicate":
            twin = threading.Thread(target=self._invoke, args=(messages,), daemon=True)
            twin.start()
        response, payload = self._invoke(messages)
        failed_ids: set[str]
        if response.get("FunctionError"):
            failed_ids = {m["MessageId"] for m in messages}
            with self._lock:
                self.stats.function_errors += 1
        elif self.report_batch_item_failures:
            body = json.loads(payload or b"{}") or {}
            failures = body.get("batchItemFailures", []) if isinstance(body, dict) else []
            failed_ids = {item["itemIdentifier"] for item in failures}
        else:
            failed_ids = set()
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        if fault == "duplicate_delivery":
            # Processed, never deleted: SQS delivers it again (at-least-once).
            self._set_visibility(done, self.retry_delay_s or 1)
            done = []
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        retry = [m for m in messages if m["MessageId"] in failed_ids]
        if retry and self.retry_delay_s is not None:
            self._set_visibility(retry, self.retry_delay_s)
        with self._lock:
            self.stats.batches += 1
            self.stats.records += len(messages)
            self.stats.deleted += len(done)
            self.stats.failed_records += len(retry)
        return len(messages)
