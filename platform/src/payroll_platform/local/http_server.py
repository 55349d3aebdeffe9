"""The HTTP server of the local cloud and of the payment emulator: cheroot, keep-alive.

werkzeug's development server (what ``moto.server.ThreadedMotoServer`` and
``werkzeug.serving.make_server`` run) answers every request with ``Connection: close``
on purpose: ``http.server`` cannot drain a request body the application left unread
before it reads the next request line. So every boto3 call of every function, every
call the Step Functions executor makes back to the cloud, and every payment opened a
TCP connection of its own, and the server a new handler for it. Measured on this
machine (``platform/tests/local/test_http_server.py`` checks the behaviour; the figures
are in the README), a DynamoDB ``GetItem`` against moto cost about 1.2 ms of the
client's CPU and 1.5 ms of the server's with a connection per request, and about 0.85
and 0.95 ms on a kept connection.

cheroot (CherryPy's server, a maintained WSGI server in pure Python) keeps HTTP/1.1
connections open, drains what the application left unread, and parks an idle
connection in a selector rather than on a thread. ``LocalHttpServer`` serves a WSGI
application with it on loopback from a daemon thread:

* its thread pool grows as requests wait (``GrowingThreadPool``): a request can wait a
  long time (a Lambda invocation for its worker, a long poll for a message) while the
  requests it waits for need threads of their own, so a fixed pool could deadlock;
  it never starts more threads than were busy at once, up to ``MAX_THREADS``;
* idle connections are kept ``IDLE_TIMEOUT_S``, up to ``KEEP_ALIVE_CONNECTIONS`` (cheroot's
  default keeps 10), so the workers' pooled connections stay open between invocations;
* ``RAW_URI`` is set as werkzeug's server sets it (moto matches S3 keys on the path
  as it arrived, before percent-decoding);
* ``log_requests`` writes one line per request to stderr, as werkzeug did.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cheroot import wsgi
from cheroot.workers import threadpool

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Threads started with the server; more start as requests wait (``GrowingThreadPool``).
MIN_THREADS = 16

#: Most requests served at once. A request thread can wait a long time (a Lambda
#: invocation waits for its worker, a long poll for a message) while the requests it
#: waits for need threads of their own, so the cap is far above the peak load; only
#: the threads needed are ever started.
MAX_THREADS = 1024

#: Seconds an idle keep-alive connection stays open (and a request may take to arrive).
#: Longer than any pause between a function's calls in a pay run, so a pooled
#: connection is rarely found closed.
IDLE_TIMEOUT_S = 300

#: Connections waiting to be accepted (``listen`` backlog).
BACKLOG = 256

#: Seconds ``stop`` waits for requests in progress.
SHUTDOWN_TIMEOUT_S = 2

#: Idle keep-alive connections kept open at once (cheroot's default is 10; a pay run's
#: functions and executor hold a few dozen).
KEEP_ALIVE_CONNECTIONS = 4096


class GrowingThreadPool(threadpool.ThreadPool):
    """cheroot's pool, started at ``min`` threads, that starts one more whenever a
    request is queued and no thread is idle (up to ``max``), without waiting for it.
    Its threads are daemons, and ``stop`` returns after its timeout: a request still
    waiting when the server stops (a long poll, an injected delay) holds neither the
    caller nor the interpreter at exit."""

    _threads: list[threadpool.WorkerThread]  # the base class's, not in its stub

    def put(self, obj: Any) -> None:
        # Called from the server's one serving thread only.
        if len(self._threads) < self.max and self.idle <= self.qsize:
            self._threads.append(self._spawn_worker())
        super().put(obj)

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)  # type: ignore[no-untyped-call]
        worker.name = f"http-{len(self._threads)}"
        worker.daemon = True
        worker.start()
        return worker

    def stop(self, timeout: int = SHUTDOWN_TIMEOUT_S) -> None:
        # cheroot waits for a request still running after ``timeout`` without a limit;
        # one that never returns (a long wait) would hold the caller. Give up at the
        # timeout: the threads are daemons.
        stopper = threading.Thread(
            target=super().stop, args=(timeout,), name="http-pool-stop", daemon=True
        )
        stopper.start()
        stopper.join(timeout + 1)

    def grow(self, amount: int) -> None:
        budget = max(int(min(self.max, sys.maxsize)) - len(self._threads), 0)
        self._threads.extend(self._spawn_worker() for _ in range(min(amount, budget)))


def _with_raw_uri(app: WSGIApplication) -> WSGIApplication:
    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ.setdefault("RAW_URI", environ.get("REQUEST_URI", ""))
        return app(environ, start_response)

    return serve


def _logged(app: WSGIApplication) -> WSGIApplication:
    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            path = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
            method = environ.get("REQUEST_METHOD", "-")
            sys.stderr.write(f'{environ.get("REMOTE_ADDR", "-")} "{method} {path}" {status}\n')
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return serve


class LocalHttpServer:
    """A WSGI application served on loopback with keep-alive, from a daemon thread.

    ``app`` may be replaced while the server runs (the local cloud puts its request
    counter and its fault injector in front of moto); each request uses the
    application in place when it arrives.
    """

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        name: str = "http",
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._log_requests = log_requests
        self._name = name
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def _serve_app(self, environ: WSGIEnvironment, respond: StartResponse) -> Iterable[bytes]:
        return self.app(environ, respond)

    def start(self) -> int:
        """Bind (``OSError`` if the port is taken), serve, and return the port."""
        if self._server is not None:
            raise RuntimeError(f"{self._name} is already serving")
        app: WSGIApplication = _with_raw_uri(self._serve_app)
        if self._log_requests:
            app = _logged(app)
        server = wsgi.Server(
            (self.host, self._requested_port),
            app,
            numthreads=MIN_THREADS,
            max=MAX_THREADS,
            request_queue_size=BACKLOG,
            timeout=IDLE_TIMEOUT_S,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        server.requests = GrowingThreadPool(server, min=MIN_THREADS, max=MAX_THREADS)
        server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
        server.prepare()  # binds; raises OSError when it cannot
        self.port = int(server.bind_addr[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve, name=f"{self._name}-{self.port}", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop accepting, wait up to ``SHUTDOWN_TIMEOUT_S`` for requests in progress,
        and close (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.stop()
        if thread is not None:
            thread.join(timeout=SHUTDOWN_TIMEOUT_S)
