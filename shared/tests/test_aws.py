"""One boto3 session per process: each client made once, botocore's data read once."""

from __future__ import annotations

import threading

import botocore.loaders
import pytest

from payroll_shared import aws


@pytest.fixture
def environment(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def file_reads(monkeypatch):
    """The data files botocore's loaders read from disk from now on."""
    reads: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file

    def load_file(self, file_path):
        data = original(self, file_path)
        if data is not None:
            reads.append(file_path)
        return data

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
    return reads


def test_one_client_per_service_whichever_thread_asks_first(environment):
    clients: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        clients.append(aws.client("dynamodb"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 8 and all(c is clients[0] for c in clients)
    assert aws.client("sqs") is not clients[0]


def test_clients_share_botocore_s_data(environment, file_reads):
    aws.client("dynamodb")
    first = list(file_reads)
    assert any("endpoints" in path for path in first)
    aws.client("sqs")
    later = file_reads[len(first) :]
    # Only the new service's own files: endpoints, partitions and the rest are kept.
    assert later and all("/sqs/" in path for path in later)


def test_preloaded_data_is_not_read_again_and_the_environment_still_decides(
    environment, file_reads
):
    aws.preload(["sqs", "s3"])
    preloaded = len(file_reads)
    assert preloaded > 0
    sqs = aws.client("sqs")
    assert len(file_reads) == preloaded  # nothing read from disk again
    assert sqs.meta.region_name == "eu-west-2"
    assert sqs.meta.endpoint_url == "http://127.0.0.1:4566"
    assert sqs._request_signer._credentials.access_key == "from-the-environment"
