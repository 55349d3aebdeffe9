"""The redrive API's stage for the local cloud, and a client of the dead-letter routes.

moto's CloudFormation cannot create API Gateway stages, so the deployed redrive stack has
no invoke URL locally. ``LocalRestApi`` stands in for the ``v1`` stage: a threading HTTP
server on 127.0.0.1 that turns each request into the REST (v1) Lambda proxy event API
Gateway sends, invokes the function (through moto's Lambda Invoke, so the local runtime
runs the real handler) and writes the proxy response back.

Like API Gateway, it answers 403 ``Missing Authentication Token`` for a path or method the
template does not define (when it is given the template's routes), 502 when the function
fails or answers something that is not a proxy response, and 504 when it times out. It
does not do IAM (SigV4) authorization, WAF, throttling, the method request validator (the
handler validates its own input) or the 29 s integration timeout. The caller's identity
is ``local-cli``, or the ``X-Payroll-Caller`` header's value (local only: a deployed
stage takes the identity from the SigV4 signature).

``DlqClient`` calls the dead-letter routes, on the local stage or on a deployed one (then
signed with SigV4 for ``execute-api``); ``payroll dlq`` uses it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

log = logging.getLogger(__name__)

ACCOUNT = "123456789012"  # moto's default account
STAGE = "v1"
LOOPBACK = "127.0.0.1"
DEFAULT_CALLER = "local-cli"
CALLER_HEADER = "X-Payroll-Caller"
#: API Gateway's payload limit.
MAX_BODY = 10 * 1024 * 1024
#: Lambda's longest timeout: the function's own timeout ends an invocation before this.
INVOKE_READ_TIMEOUT_S = 900
#: Headers that describe one HTTP connection or message framing, not the answer.
HOP_BY_HOP = frozenset(
    {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade", "te"}
)

#: Resource path (``/dead-letters/{record_key}``) -> the methods defined on it.
Routes = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class Invocation:
    """What Lambda's Invoke answered: the payload and ``FunctionError`` (None: no error)."""

    payload: bytes
    function_error: str | None = None


#: Sends one proxy event to the function, synchronously.
Invoke = Callable[[dict[str, Any]], Invocation]


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Route:
    resource: str
    path_parameters: dict[str, str] | None


# ------------------------------------------------------------------ routes


def routes_from_template(template: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """The REST API's resource paths and their methods, read from a CloudFormation
    template (``AWS::ApiGateway::Resource`` and ``AWS::ApiGateway::Method``)."""
    resources: dict[str, Any] = template.get("Resources", {})
    parts: dict[str, tuple[str | None, str]] = {}  # logical id -> (parent logical id, part)
    for logical, body in resources.items():
        if body.get("Type") == "AWS::ApiGateway::Resource":
            props = body.get("Properties", {})
            parts[logical] = (_resource_ref(props.get("ParentId")), str(props.get("PathPart")))

    def path_of(logical: str | None, depth: int = 0) -> str:
        if logical is None or logical not in parts or depth > 64:
            return ""  # the root resource
        parent, part = parts[logical]
        return f"{path_of(parent, depth + 1)}/{part}"

    routes: dict[str, set[str]] = {}
    for body in resources.values():
        if body.get("Type") != "AWS::ApiGateway::Method":
            continue
        props = body.get("Properties", {})
        path = path_of(_resource_ref(props.get("ResourceId"))) or "/"
        routes.setdefault(path, set()).add(str(props.get("HttpMethod", "")).upper())
    return {path: frozenset(methods) for path, methods in routes.items()}


def _resource_ref(node: Any) -> str | None:
    """The logical id a ``Ref`` names; None for the API's root resource (a GetAtt)."""
    if isinstance(node, Mapping) and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    return None


def match_route(routes: Routes, path: str) -> Route | None:
    """The resource a path falls on, literal path parts first as API Gateway does
    (``/dead-letters/redrive`` before ``/dead-letters/{record_key}``)."""
    segments = [s for s in path.split("/") if s]
    best: tuple[tuple[int, ...], Route] | None = None
    for resource in routes:
        template = [s for s in resource.split("/") if s]
        params: dict[str, str] = {}
        rank: list[int] = []
        if template and template[-1].startswith("{") and template[-1].endswith("+}"):
            if len(segments) < len(template):
                continue
            greedy = "/".join(segments[len(template) - 1 :])
            fixed, segments_fixed = template[:-1], segments[: len(template) - 1]
            params[template[-1][1:-2]] = unquote(greedy)
            rank_tail = [2]
        else:
            if len(segments) != len(template):
                continue
            fixed, segments_fixed, rank_tail = template, segments, []
        matched = True
        for part, segment in zip(fixed, segments_fixed, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = unquote(segment)
                rank.append(1)
            elif part == segment:
                rank.append(0)
            else:
                matched = False
                break
        if not matched:
            continue
        key = tuple(rank + rank_tail)
        if best is None or key < best[0]:
            best = (key, Route(resource, params or None))
    return best[1] if best else None


# ------------------------------------------------------------------ event and answer


def split_target(target: str, stage: str = STAGE) -> tuple[str, list[tuple[str, str]]]:
    """The request target's path, without the ``/<stage>`` prefix, and its query pairs
    (decoded, in order, blank values kept)."""
    parts = urlsplit(target)
    path = parts.path or "/"
    prefix = f"/{stage}"
    if path == prefix:
        path = "/"
    elif path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path, parse_qsl(parts.query, keep_blank_values=True)


def _single_and_multi(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value  # the last value, as API Gateway does
        multi.setdefault(name, []).append(value)
    return (single or None), (multi or None)


def _header(headers: Sequence[tuple[str, str]], wanted: str) -> str | None:
    """The last non-empty value of a header, by case-insensitive name."""
    values = [value for name, value in headers if name.lower() == wanted.lower() and value]
    return values[-1] if values else None


def build_event(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
    *,
    route: Route | None = None,
    stage: str = STAGE,
    request_id: str | None = None,
    now: datetime | None = None,
    account: str = ACCOUNT,
    source_ip: str = LOOPBACK,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event of one request.

    ``path`` keeps its percent-encoding, path and query parameters are decoded, as API
    Gateway does; without a ``route`` the resource is the path itself and
    ``pathParameters`` is None.
    """
    method = method.upper()
    path, query = split_target(target, stage)
    single_query, multi_query = _single_and_multi(query)
    single_headers, multi_headers = _single_and_multi(headers)
    request_id = request_id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    resource = route.resource if route else path
    caller = _header(headers, CALLER_HEADER) or DEFAULT_CALLER
    host = _header(headers, "Host") or LOOPBACK
    text: str | None = None
    if body:
        text = body.decode("utf-8", errors="replace")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": route.path_parameters if route else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": account,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": account,
                "cognitoIdentityId": None,
                "caller": caller,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": f"arn:aws:iam::{account}:user/{caller}",
                "userAgent": _header(headers, "User-Agent"),
                "user": caller,
            },
            "domainName": host,
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _json_answer(
    status: int, body: Mapping[str, Any], request_id: str, **headers: str
) -> HttpAnswer:
    return HttpAnswer(
        status,
        [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            *((name.replace("_", "-"), value) for name, value in headers.items()),
        ],
        json.dumps(body).encode(),
    )


def _function_error(payload: bytes) -> dict[str, Any]:
    try:
        error = json.loads(payload or b"{}")
    except ValueError:
        return {"errorType": "Unknown", "errorMessage": payload.decode(errors="replace")}
    if not isinstance(error, dict):
        return {"errorType": "Unknown", "errorMessage": str(error)}
    return {
        "errorType": str(error.get("errorType", "Unknown")),
        "errorMessage": str(error.get("errorMessage", "")),
    }


def proxy_answer(invocation: Invocation, request_id: str) -> HttpAnswer:
    """The HTTP answer to a Lambda proxy invocation: the function's proxy response, or
    API Gateway's 502 (function error, malformed response) or 504 (timeout)."""
    if invocation.function_error:
        error = _function_error(invocation.payload)
        if error["errorType"] == "Sandbox.Timedout":
            body = {"message": "Endpoint request timed out", "error": error}
            return _json_answer(504, body, request_id)
        body = {"message": "Internal server error", "error": error}
        return _json_answer(502, body, request_id, x_amzn_ErrorType="InternalServerErrorException")
    try:
        response = json.loads(invocation.payload or b"null")
        status, headers, body_bytes = _proxy_response(response)
    except ValueError as exc:
        body = {
            "message": "Internal server error",
            "error": {"errorType": "MalformedProxyResponse", "errorMessage": str(exc)},
        }
        return _json_answer(502, body, request_id, x_amzn_ErrorType="InternalServerErrorException")
    names = {name.lower() for name, _ in headers}
    if "content-type" not in names:
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpAnswer(status, headers, body_bytes)


def _proxy_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a proxy response; ``ValueError`` if it is not one."""
    if not isinstance(response, dict):
        raise ValueError(f"the function answered {type(response).__name__}, not an object")
    status = response.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    # Both maps merged; for a name in both, the multi-value list wins (API Gateway's rule).
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
        merged.setdefault(name.lower(), (name, []))[1].extend(str(v) for v in values)
    for name, value in (response.get("headers") or {}).items():
        if name.lower() not in merged:
            merged[name.lower()] = (name, [str(value)])
    headers = [
        (name, value)
        for key, (name, values) in merged.items()
        if key not in HOP_BY_HOP
        for value in values
    ]
    body = response.get("body")
    if body is None:
        return status, headers, b""
    if not isinstance(body, str):
        raise ValueError(f"body is {type(body).__name__}, not a string")
    if response.get("isBase64Encoded"):
        try:
            return status, headers, base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise ValueError("isBase64Encoded, but the body is not base64") from exc
    return status, headers, body.encode()


# ------------------------------------------------------------------ the stage


def lambda_invoker(session: Any, endpoint_url: str | None, function_name: str) -> Invoke:
    """Invoke ``function_name`` synchronously through Lambda's API (moto's, locally).

    No retries: a retried POST would run a redrive or a discard twice.
    """
    from botocore.config import Config

    client = session.client(
        "lambda",
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=10,
            read_timeout=INVOKE_READ_TIMEOUT_S,
            retries={"total_max_attempts": 1},
        ),
    )

    def invoke(event: dict[str, Any]) -> Invocation:  # boto3 clients are thread-safe
        response = client.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        return Invocation(response["Payload"].read(), response.get("FunctionError"))

    return invoke


@dataclass
class LocalRestApi:
    """A REST API stage on 127.0.0.1 that hands every request to ``invoke``.

    ``routes``: the API's resources and methods (``routes_from_template``); with them a
    request outside the API is refused as API Gateway refuses it, without them every
    request goes to the function with ``resource`` = its path.
    """

    invoke: Invoke
    routes: Routes | None = None
    stage: str = STAGE
    port: int = 0
    account: str = ACCOUNT
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> str:
        """Start serving; the stage URL (``http://127.0.0.1:<port>/<stage>``)."""
        if self._server is not None:
            return self.url
        server = _Server((LOOPBACK, self.port), _Handler)
        server.api = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-rest-api",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalRestApi:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local REST API is not started")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/{self.stage}"

    # -- one request ------------------------------------------------------------------
    def answer(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> HttpAnswer:
        request_id = str(uuid.uuid4())
        route: Route | None = None
        if self.routes is not None:
            path, _ = split_target(target, self.stage)
            route = match_route(self.routes, path)
            methods = self.routes.get(route.resource, frozenset()) if route else frozenset()
            if route is None or not ({method.upper(), "ANY"} & methods):
                return _json_answer(
                    403,
                    {"message": "Missing Authentication Token"},
                    request_id,
                    x_amzn_ErrorType="MissingAuthenticationTokenException",
                )
        event = build_event(
            method,
            target,
            headers,
            body,
            route=route,
            stage=self.stage,
            request_id=request_id,
            account=self.account,
        )
        try:
            invocation = self.invoke(event)
        except Exception as exc:
            log.exception("invoking the API function failed (%s %s)", method, target)
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return _json_answer(
                502,
                {"message": "Internal server error", "error": error},
                request_id,
                x_amzn_ErrorType="InternalServerErrorException",
            )
        return proxy_answer(invocation, request_id)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LocalRestApi


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        method = self.command
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._write(_json_answer(411, {"message": "Length Required"}, "-"), method)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._write(_json_answer(413, {"message": "Request Too Long"}, "-"), method, close=True)
            return
        body = self.rfile.read(length) if length else None
        answer = self.server.api.answer(method, self.path, list(self.headers.items()), body)
        self._write(answer, method)
        log.info("%s %s -> %s", method, self.path, answer.status)

    def _write(self, answer: HttpAnswer, method: str, close: bool = False) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


# ------------------------------------------------------------------ the client


def record_key(record: str) -> str:
    """A record's key for the API path: a record id (it contains ``/``) is encoded as
    base64url without padding, anything else is taken to be a key already."""
    if "/" not in record:
        return record
    return base64.urlsafe_b64encode(record.encode()).decode().rstrip("=")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


class DlqClient:
    """The dead-letter routes of the redrive API; every call answers (status, JSON body).

    ``base_url`` is the stage URL (``.../v1``). A loopback URL is the local cloud's stage
    and is called as is; any other is a deployed stage, whose methods use IAM
    authorization: requests are signed with SigV4 (``execute-api``) with the default
    boto3 credentials, in ``region`` (default: the one in the URL, else the session's).
    """

    #: Listing and showing read the queue; a redrive reruns steps and may take a minute.
    READ_TIMEOUT_S = 30
    WRITE_TIMEOUT_S = 90

    def __init__(
        self,
        base_url: str,
        *,
        sign: bool | None = None,
        region: str | None = None,
        caller: str | None = None,
        session: Any = None,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.sign = (not _is_loopback(base_url)) if sign is None else sign
        self.region = region
        self.caller = caller
        self._boto_session = session
        self._http = requests.Session()

    # -- routes -----------------------------------------------------------------------
    def list(
        self,
        *,
        pay_run_id: str | None = None,
        employer_id: str | None = None,
        error_code: str | None = None,
    ) -> tuple[int, Any]:
        filters = _filters(pay_run_id, employer_id, error_code)
        return self.request("GET", "/dead-letters", params=filters)

    def show(self, record: str) -> tuple[int, Any]:
        return self.request("GET", f"/dead-letters/{quote(record_key(record), safe='')}")

    def redrive(self, record: str) -> tuple[int, Any]:
        key = quote(record_key(record), safe="")
        return self.request("POST", f"/dead-letters/{key}/redrive", write=True)

    def redrive_all(
        self,
        *,
        pay_run_id: str | None = None,
        employer_id: str | None = None,
        error_code: str | None = None,
    ) -> tuple[int, Any]:
        filters = _filters(pay_run_id, employer_id, error_code)
        return self.request("POST", "/dead-letters/redrive", params=filters, write=True)

    def discard(self, record: str, reason: str) -> tuple[int, Any]:
        key = quote(record_key(record), safe="")
        return self.request(
            "POST", f"/dead-letters/{key}/discard", json_body={"reason": reason}, write=True
        )

    # -- transport --------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        write: bool = False,
    ) -> tuple[int, Any]:
        import requests

        prepared = requests.Request(
            method,
            self.base_url + path,
            params=dict(params or {}),
            data=json.dumps(json_body).encode() if json_body is not None else None,
            headers={"Accept": "application/json"},
        ).prepare()
        if json_body is not None:
            prepared.headers["Content-Type"] = "application/json"
        if self.caller:
            prepared.headers[CALLER_HEADER] = self.caller
        if self.sign:
            self._sign(prepared)
        response = self._http.send(
            prepared, timeout=(10, self.WRITE_TIMEOUT_S if write else self.READ_TIMEOUT_S)
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = {"message": response.text}
        return response.status_code, body

    def _sign(self, prepared: Any) -> None:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        session = self._boto_session or boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise RuntimeError("signing a deployed API call needs AWS credentials; none found")
        region = self.region or _region_of(self.base_url) or session.region_name or "us-east-1"
        request = AWSRequest(
            method=prepared.method,
            url=prepared.url,
            data=prepared.body or b"",
            headers={k: v for k, v in prepared.headers.items() if k.lower() != "connection"},
        )
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        prepared.headers.update(dict(request.headers.items()))

    def close(self) -> None:
        self._http.close()


def _filters(
    pay_run_id: str | None, employer_id: str | None, error_code: str | None
) -> dict[str, str]:
    given = {"pay_run_id": pay_run_id, "employer_id": employer_id, "error_code": error_code}
    return {name: value for name, value in given.items() if value is not None}


def _region_of(url: str) -> str | None:
    """The region of an ``<id>.execute-api.<region>.amazonaws.com`` URL."""
    parts = (urlsplit(url).hostname or "").split(".")
    if len(parts) >= 4 and parts[1] == "execute-api":
        return parts[2]
    return None
