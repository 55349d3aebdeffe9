"""The local stage of the redrive API and ``payroll dlq``, without moto.

The stage is served on loopback with an injected invoke function: one that echoes the
proxy event back, one that runs a small Powertools resolver (the same resolver the
redrive handler uses, so the event is one Powertools accepts), and failing ones.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import boto3
import pytest
import requests
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from pydantic import BaseModel

from payroll_platform import cli
from payroll_platform.local import api_gateway as gw
from payroll_platform.local.api_gateway import (
    DlqClient,
    HttpAnswer,
    Invocation,
    LocalRestApi,
    Route,
)

TIMEOUT = (2.0, 5.0)
RECORD_ID = "pr-weekly-2025-01-03/er-1/e-7"
RECORD_KEY = "cHItd2Vla2x5LTIwMjUtMDEtMDMvZXItMS9lLTc"  # base64url, no padding

#: The redrive REST API as CDK synthesizes it (ids shortened, unrelated resources left out).
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "dead-letter-api"}},
        "DeadLetters": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "dead-letters",
                "RestApiId": {"Ref": "Api"},
            },
        },
        "RedriveAll": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Ref": "DeadLetters"}, "PathPart": "redrive"},
        },
        "One": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Ref": "DeadLetters"}, "PathPart": "{record_key}"},
        },
        "OneRedrive": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Ref": "One"}, "PathPart": "redrive"},
        },
        "OneDiscard": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"ParentId": {"Ref": "One"}, "PathPart": "discard"},
        },
        **{
            f"{resource}{verb}": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {"HttpMethod": verb, "ResourceId": {"Ref": resource}},
            }
            for resource, verb in [
                ("DeadLetters", "GET"),
                ("RedriveAll", "POST"),
                ("One", "GET"),
                ("OneRedrive", "POST"),
                ("OneDiscard", "POST"),
            ]
        },
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {}},
    }
}
ROUTES = gw.routes_from_template(TEMPLATE)


# ------------------------------------------------------------------ fakes


class Recorder:
    """An invoke function that records each event and answers with a proxy response."""

    def __init__(self, answer: Any = None, *, error: str | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer
        self.error = error

    def __call__(self, event: dict[str, Any]) -> Invocation:
        self.events.append(event)
        answer = self.answer
        if answer is None:  # echo the parts of the event a test looks at
            answer = {
                "statusCode": 200,
                "multiValueHeaders": {"Content-Type": ["application/json"]},
                "body": json.dumps(
                    {
                        key: event[key]
                        for key in (
                            "httpMethod",
                            "path",
                            "resource",
                            "pathParameters",
                            "queryStringParameters",
                            "body",
                        )
                    }
                ),
                "isBase64Encoded": False,
            }
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return Invocation(payload, self.error)


class DiscardRequest(BaseModel):
    reason: str


def powertools_invoke() -> gw.Invoke:
    """The redrive API's routes in a Powertools resolver with validation, as the handler."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.get("/dead-letters")
    def listing(pay_run_id: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        return {"records": [], "count": 0, "pay_run_id": pay_run_id}

    @app.get("/dead-letters/<record_key>")
    def show(record_key: Annotated[str, PathParam()]) -> dict[str, Any]:
        return {"record_key": record_key}

    @app.post("/dead-letters/<record_key>/discard")
    def discard(
        record_key: Annotated[str, PathParam()], request: Annotated[DiscardRequest, Body()]
    ) -> dict[str, Any]:
        identity = app.current_event.request_context.identity
        return {
            "record_key": record_key,
            "reason": request.reason,
            "user_arn": identity.user_arn,
            "caller": identity.caller,
            "source_ip": identity.source_ip,
            "request_id": app.current_event.request_context.request_id,
        }

    def invoke(event: dict[str, Any]) -> Invocation:
        # Through JSON, as Lambda's Invoke carries it.
        response = app.resolve(json.loads(json.dumps(event)), None)  # type: ignore[arg-type]
        return Invocation(json.dumps(response).encode())

    return invoke


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def stage(recorder: Recorder) -> Iterator[LocalRestApi]:
    with LocalRestApi(recorder, routes=ROUTES) as api:
        yield api


# ------------------------------------------------------------------ routes


def test_routes_are_read_from_the_template() -> None:
    assert dict(ROUTES) == {
        "/dead-letters": frozenset({"GET"}),
        "/dead-letters/redrive": frozenset({"POST"}),
        "/dead-letters/{record_key}": frozenset({"GET"}),
        "/dead-letters/{record_key}/redrive": frozenset({"POST"}),
        "/dead-letters/{record_key}/discard": frozenset({"POST"}),
    }


def test_a_literal_path_part_wins_over_a_parameter() -> None:
    assert gw.match_route(ROUTES, "/dead-letters/redrive") == Route("/dead-letters/redrive", None)
    assert gw.match_route(ROUTES, f"/dead-letters/{RECORD_KEY}/redrive") == Route(
        "/dead-letters/{record_key}/redrive", {"record_key": RECORD_KEY}
    )
    assert gw.match_route(ROUTES, "/dead-letters/") == Route("/dead-letters", None)


def test_path_parameters_are_decoded_and_unknown_paths_do_not_match() -> None:
    assert gw.match_route(ROUTES, "/dead-letters/a%2Fb") == Route(
        "/dead-letters/{record_key}", {"record_key": "a/b"}
    )
    assert gw.match_route(ROUTES, "/dead-letters/x/y/z") is None
    assert gw.match_route(ROUTES, "/other") is None
    greedy = {"/files/{proxy+}": frozenset({"ANY"}), "/files/index": frozenset({"GET"})}
    assert gw.match_route(greedy, "/files/a/b") == Route("/files/{proxy+}", {"proxy": "a/b"})
    assert gw.match_route(greedy, "/files/index") == Route("/files/index", None)


def test_the_stage_prefix_is_optional() -> None:
    assert gw.split_target("/v1/dead-letters?a=1") == ("/dead-letters", [("a", "1")])
    assert gw.split_target("/dead-letters") == ("/dead-letters", [])
    assert gw.split_target("/v1") == ("/", [])
    assert gw.split_target("/v10/x") == ("/v10/x", [])


# ------------------------------------------------------------------ the event


def test_a_get_becomes_a_rest_proxy_event() -> None:
    now = datetime(2026, 7, 31, 12, 0, 5, tzinfo=UTC)
    event = gw.build_event(
        "get",
        "/v1/dead-letters?pay_run_id=pr%201&error_code=A&error_code=B&empty=",
        [
            ("Host", "127.0.0.1:8080"),
            ("Accept", "application/json"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ],
        None,
        route=gw.match_route(ROUTES, "/dead-letters"),
        request_id="req-1",
        now=now,
    )
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/dead-letters"
    assert event["resource"] == "/dead-letters"
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] == {"pay_run_id": "pr 1", "error_code": "B", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "pay_run_id": ["pr 1"],
        "error_code": ["A", "B"],
        "empty": [""],
    }
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["requestId"] == "req-1"
    assert context["path"] == "/v1/dead-letters"
    assert context["resourcePath"] == "/dead-letters"
    assert context["httpMethod"] == "GET"
    assert context["accountId"] == "123456789012"
    assert context["requestTimeEpoch"] == int(now.timestamp() * 1000)
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["caller"] == "local-cli"
    assert context["identity"]["userArn"] == "arn:aws:iam::123456789012:user/local-cli"
    assert context["identity"]["accountId"] == "123456789012"


def test_a_post_carries_its_body_path_parameters_and_caller() -> None:
    target = f"/dead-letters/{RECORD_KEY}/discard"
    event = gw.build_event(
        "POST",
        target,
        [("Content-Type", "application/json"), ("x-payroll-caller", "ops-ada")],
        b'{"reason": "dup"}',
        route=gw.match_route(ROUTES, target),
    )
    assert event["resource"] == "/dead-letters/{record_key}/discard"
    assert event["pathParameters"] == {"record_key": RECORD_KEY}
    assert event["body"] == '{"reason": "dup"}'
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["requestContext"]["identity"]["caller"] == "ops-ada"
    assert event["requestContext"]["identity"]["userArn"].endswith(":user/ops-ada")
    assert len(event["requestContext"]["requestId"]) == 36  # a uuid


def test_without_routes_the_resource_is_the_path() -> None:
    event = gw.build_event("GET", "/v1/anything/at%20all", [], b"")
    assert event["resource"] == event["path"] == "/anything/at%20all"  # encoding kept
    assert event["pathParameters"] is None
    assert event["body"] is None


# ------------------------------------------------------------------ the answer


def test_a_proxy_response_is_written_back() -> None:
    answer = gw.proxy_answer(
        Invocation(
            json.dumps(
                {
                    "statusCode": 201,
                    "headers": {"X-One": "h", "X-Both": "from-headers", "Content-Length": "9"},
                    "multiValueHeaders": {"X-Both": ["a", "b"], "Set-Cookie": ["c=1", "d=2"]},
                    "body": '{"ok": true}',
                    "isBase64Encoded": False,
                }
            ).encode()
        ),
        "req-2",
    )
    assert answer.status == 201
    assert answer.body == b'{"ok": true}'
    headers = answer.headers
    assert ("X-One", "h") in headers
    assert [v for n, v in headers if n == "X-Both"] == ["a", "b"]  # multi-value wins
    assert [v for n, v in headers if n == "Set-Cookie"] == ["c=1", "d=2"]
    assert ("Content-Type", "application/json") in headers  # API Gateway's default
    assert ("x-amzn-RequestId", "req-2") in headers
    assert not [n for n, _ in headers if n.lower() == "content-length"]  # the server sets it


def test_a_base64_body_is_decoded_and_a_missing_body_is_empty() -> None:
    raw = base64.b64encode(b"\x00\x01binary").decode()
    answer = gw.proxy_answer(
        Invocation(
            json.dumps(
                {
                    "statusCode": "200",
                    "headers": {"Content-Type": "application/octet-stream"},
                    "body": raw,
                    "isBase64Encoded": True,
                }
            ).encode()
        ),
        "r",
    )
    assert (answer.status, answer.body) == (200, b"\x00\x01binary")
    assert [v for n, v in answer.headers if n == "Content-Type"] == ["application/octet-stream"]
    assert gw.proxy_answer(Invocation(b'{"statusCode": 204}'), "r").body == b""


def _json(answer: HttpAnswer) -> Any:
    return json.loads(answer.body)


def test_a_function_error_is_a_502_naming_the_error() -> None:
    error = {"errorType": "KeyError", "errorMessage": "'PROCESS_DLQ_URL'", "stackTrace": []}
    answer = gw.proxy_answer(Invocation(json.dumps(error).encode(), "Unhandled"), "r")
    assert answer.status == 502
    assert _json(answer) == {
        "message": "Internal server error",
        "error": {"errorType": "KeyError", "errorMessage": "'PROCESS_DLQ_URL'"},
    }


def test_a_timeout_is_a_504() -> None:
    error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
    answer = gw.proxy_answer(Invocation(json.dumps(error).encode(), "Handled"), "r")
    assert answer.status == 504
    assert _json(answer)["error"]["errorType"] == "Sandbox.Timedout"


@pytest.mark.parametrize(
    "payload",
    [
        b"null",
        b'"text"',
        b"not json",
        b'{"body": "no status"}',
        b'{"statusCode": 700}',
        b'{"statusCode": 200, "body": {"not": "a string"}}',
        b'{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}',
        b'{"statusCode": 200, "multiValueHeaders": {"X": "not a list"}}',
    ],
)
def test_a_malformed_proxy_response_is_a_502(payload: bytes) -> None:
    answer = gw.proxy_answer(Invocation(payload), "r")
    assert answer.status == 502
    assert _json(answer)["error"]["errorType"] == "MalformedProxyResponse"


# ------------------------------------------------------------------ the server


def test_the_stage_serves_loopback_under_v1_and_without_it(
    stage: LocalRestApi, recorder: Recorder
) -> None:
    assert stage.url.startswith("http://127.0.0.1:")
    assert stage.url.endswith("/v1")
    root = stage.url.removesuffix("/v1")
    for base in (stage.url, root):
        response = requests.get(
            f"{base}/dead-letters", params={"employer_id": "er-1"}, timeout=TIMEOUT
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["x-amzn-RequestId"]
        assert response.json() == {
            "httpMethod": "GET",
            "path": "/dead-letters",
            "resource": "/dead-letters",
            "pathParameters": None,
            "queryStringParameters": {"employer_id": "er-1"},
            "body": None,
        }
    assert len(recorder.events) == 2
    assert (
        recorder.events[0]["requestContext"]["requestId"]
        != (recorder.events[1]["requestContext"]["requestId"])
    )


def test_a_route_the_api_does_not_define_is_refused(
    stage: LocalRestApi, recorder: Recorder
) -> None:
    for method, path in [
        ("GET", "/nothing"),
        ("GET", "/dead-letters/redrive"),
        ("DELETE", "/dead-letters"),
    ]:
        response = requests.request(method, f"{stage.url}{path}", timeout=TIMEOUT)
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}
    assert recorder.events == []


def test_without_routes_every_request_reaches_the_function() -> None:
    recorder = Recorder()
    with LocalRestApi(recorder) as api:
        response = requests.delete(f"{api.url}/whatever/here", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["resource"] == "/whatever/here"


def test_an_invoke_that_raises_is_a_502(stage: LocalRestApi) -> None:
    def broken(event: dict[str, Any]) -> Invocation:
        raise ConnectionError("moto is gone")

    stage.invoke = broken
    response = requests.get(f"{stage.url}/dead-letters", timeout=TIMEOUT)
    assert response.status_code == 502
    assert response.json()["error"] == {
        "errorType": "ConnectionError",
        "errorMessage": "moto is gone",
    }


def test_powertools_resolves_the_events() -> None:
    with LocalRestApi(powertools_invoke(), routes=ROUTES) as api:
        listing = requests.get(
            f"{api.url}/dead-letters", params={"pay_run_id": "pr-1"}, timeout=TIMEOUT
        )
        shown = requests.get(f"{api.url}/dead-letters/{RECORD_KEY}", timeout=TIMEOUT)
        discarded = requests.post(
            f"{api.url}/dead-letters/{RECORD_KEY}/discard",
            json={"reason": "duplicate"},
            headers={gw.CALLER_HEADER: "ops-ada"},
            timeout=TIMEOUT,
        )
        invalid = requests.post(
            f"{api.url}/dead-letters/{RECORD_KEY}/discard", json={}, timeout=TIMEOUT
        )
    assert (listing.status_code, listing.json()) == (
        200,
        {"records": [], "count": 0, "pay_run_id": "pr-1"},
    )
    assert shown.json() == {"record_key": RECORD_KEY}
    assert discarded.status_code == 200
    body = discarded.json()
    assert body["reason"] == "duplicate"
    assert body["user_arn"] == "arn:aws:iam::123456789012:user/ops-ada"
    assert body["source_ip"] == "127.0.0.1"
    assert body["request_id"] == discarded.headers["x-amzn-RequestId"]
    assert invalid.status_code == 422  # Powertools' validation, passed through


# ------------------------------------------------------------------ the client


def test_a_record_id_becomes_its_key_and_a_key_stays() -> None:
    assert gw.record_key(RECORD_ID) == RECORD_KEY
    assert gw.record_key(RECORD_KEY) == RECORD_KEY
    for record_id in ("a/b", "pr/er/ü-é", "x" * 7 + "/y"):
        key = gw.record_key(record_id)
        assert "=" not in key and "/" not in key and "+" not in key
        decoded = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
        assert decoded == record_id


def test_the_client_calls_each_route(stage: LocalRestApi, recorder: Recorder) -> None:
    client = DlqClient(stage.url, caller="ops-ada")
    assert not client.sign  # loopback: not signed
    status, body = client.list(pay_run_id="pr-1", error_code="E")
    assert status == 200
    assert body["queryStringParameters"] == {"pay_run_id": "pr-1", "error_code": "E"}
    status, body = client.show(RECORD_ID)
    assert body["pathParameters"] == {"record_key": RECORD_KEY}
    assert body["resource"] == "/dead-letters/{record_key}"
    status, body = client.redrive(RECORD_KEY)
    assert (body["httpMethod"], body["resource"]) == ("POST", "/dead-letters/{record_key}/redrive")
    assert body["body"] is None
    status, body = client.redrive_all(employer_id="er-1")
    assert (body["resource"], body["queryStringParameters"]) == (
        "/dead-letters/redrive",
        {"employer_id": "er-1"},
    )
    status, body = client.discard(RECORD_ID, "paid by hand")
    assert body["resource"] == "/dead-letters/{record_key}/discard"
    assert json.loads(body["body"]) == {"reason": "paid by hand"}
    discard_event = recorder.events[-1]
    assert discard_event["headers"]["Content-Type"] == "application/json"
    assert discard_event["requestContext"]["identity"]["caller"] == "ops-ada"
    client.close()


def test_the_client_answers_errors_and_non_json_bodies() -> None:
    not_found = {"statusCode": 404, "body": '{"statusCode": 404, "message": "no such"}'}
    with LocalRestApi(Recorder(not_found)) as api:
        assert DlqClient(api.url).show("k") == (404, {"statusCode": 404, "message": "no such"})
    text = {"statusCode": 500, "headers": {"Content-Type": "text/plain"}, "body": "oops"}
    with LocalRestApi(Recorder(text)) as api:
        assert DlqClient(api.url).list() == (500, {"message": "oops"})


def test_a_deployed_api_is_signed_for_execute_api(recorder: Recorder) -> None:
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        region_name="us-east-1",
    )
    with LocalRestApi(recorder) as api:
        client = DlqClient(api.url, sign=True, region="eu-west-1", session=session)
        status, _ = client.discard(RECORD_ID, "r")
    assert status == 200
    headers = recorder.events[-1]["headers"]
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Date"]
    url = "https://abc123.execute-api.ca-central-1.amazonaws.com/v1"
    assert DlqClient(url).sign
    assert gw._region_of(url) == "ca-central-1"
    assert gw._region_of("http://127.0.0.1:9/v1") is None


# ------------------------------------------------------------------ payroll dlq


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_cli_calls_the_api_and_exits_by_status(
    stage: LocalRestApi, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    api = ["--api-url", stage.url]
    code, body, _ = run_cli(["dlq", "show", RECORD_ID, *api], capsys)
    assert code == 0
    assert body["pathParameters"] == {"record_key": RECORD_KEY}
    code, body, _ = run_cli(["dlq", "discard", RECORD_KEY, "--reason", "dup", *api], capsys)
    assert json.loads(body["body"]) == {"reason": "dup"}
    code, body, _ = run_cli(["dlq", "redrive", "--all", "--pay-run-id", "pr-1", *api], capsys)
    assert body["resource"] == "/dead-letters/redrive"
    assert body["queryStringParameters"] == {"pay_run_id": "pr-1"}
    code, body, _ = run_cli(["dlq", "redrive", RECORD_ID, *api], capsys)
    assert body["resource"] == "/dead-letters/{record_key}/redrive"

    recorder.answer = {"statusCode": 501, "body": '{"error": "not yet"}'}
    code, body, err = run_cli(["dlq", "redrive", RECORD_ID, *api], capsys)
    assert (code, body) == (1, {"error": "not yet"})
    assert "HTTP 501" in err


def test_cli_list_prints_json_and_a_table(
    stage: LocalRestApi, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {
        "records": [
            {
                "record_key": RECORD_KEY,
                "record": {
                    "record_id": RECORD_ID,
                    "pay_run_id": "pr-weekly-2025-01-03",
                    "employer_id": "er-1",
                    "employee_id": "e-7",
                    "step": "payroll_calc",
                    "error": {"code": "InvalidEmployeeRecord", "message": "m"},
                },
                "message_ids": ["m1"],
                "copies": 1,
            }
        ],
        "count": 1,
        "approximate_total": 1,
        "messages_seen": 1,
        "unreadable": [],
    }
    recorder.answer = {"statusCode": 200, "body": json.dumps(page)}
    code, body, err = run_cli(
        ["dlq", "list", "--employer-id", "er-1", "--api-url", stage.url], capsys
    )
    assert (code, body) == (0, page)
    assert recorder.events[-1]["queryStringParameters"] == {"employer_id": "er-1"}
    assert "InvalidEmployeeRecord" in err and RECORD_KEY in err


def test_cli_finds_the_local_cloud_or_the_environment(
    stage: LocalRestApi,
    recorder: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(cli.API_URL_ENV, raising=False)
    code = cli.main(["--run-dir", str(tmp_path), "dlq", "list"])
    assert code == 1
    assert "no redrive API" in capsys.readouterr().err

    state = {"pid": os.getpid(), "redrive_api_url": stage.url, "ready": True}
    (tmp_path / "cloud.json").write_text(json.dumps(state))
    code, body, _ = run_cli(["--run-dir", str(tmp_path), "dlq", "list"], capsys)
    assert code == 0 and body["resource"] == "/dead-letters"

    with LocalRestApi(Recorder({"statusCode": 418, "body": "{}"})) as other:
        monkeypatch.setenv(cli.API_URL_ENV, other.url)  # the environment wins
        code, body, _ = run_cli(["--run-dir", str(tmp_path), "dlq", "list"], capsys)
    assert code == 1


def test_cli_reports_an_unreachable_api(capsys: pytest.CaptureFixture[str]) -> None:
    api = LocalRestApi(Recorder())
    url = api.start()
    api.stop()  # the port is free again: nothing answers
    assert cli.main(["dlq", "show", "k", "--api-url", url]) == 1
    assert "failed" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "redrive"],  # neither a record nor --all
        ["dlq", "redrive", RECORD_ID, "--all"],
        ["dlq", "redrive", RECORD_ID, "--pay-run-id", "pr-1"],  # filters go with --all
        ["dlq", "discard", RECORD_ID],  # --reason is required
        ["dlq", "show"],
        ["dlq", "purge"],
    ],
)
def test_cli_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    capsys.readouterr()
