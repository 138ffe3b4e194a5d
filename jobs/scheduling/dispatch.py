"""Concurrent HTTP execution of runs: libcurl's multi interface (pycurl), driven by one thread.

The worker's main thread submits requests and takes outcomes back; nothing here touches the
database. libcurl parses HTTP and manages connections in C, with the GIL released: a request
costs the process about a third of the CPU an asyncio client needs (bench/RESULTS.md), and the
scheduler is one Python process. Outbound safety (no private, loopback or link-local address
unless allowlisted) is checked on the address of every connection libcurl is about to open,
after DNS resolution, and on every redirect hop.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import certifi
import pycurl
from django.conf import settings
from yarl import URL

import cronicorn
from jobs.models import Run

logger = logging.getLogger("cronicorn.scheduler")

USER_AGENT = f"cronicorn/{cronicorn.__version__}"
MAX_REDIRECTS = 5
MAX_ERROR_CHARS = 500
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# The headers the scheduler sets, lower-cased: a user's header of the same name is dropped.
SCHEDULER_HEADERS = frozenset(
    {
        "user-agent",
        "idempotency-key",
        "x-cronicorn-scheduled-for",
        "x-cronicorn-attempt",
        "x-cronicorn-signature",
    }
)
# Headers that must not follow a redirect to another host: they carry the caller's credentials.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# The CA bundle Python's ssl module would use (SSL_CERT_FILE overrides it), else certifi's:
# libcurl in pycurl's wheels has no default of its own that fits every system.
CA_BUNDLE = ssl.get_default_verify_paths().cafile or certifi.where()
# libcurl errors that mean the endpoint could not be reached at all.
CONNECTION_ERRORS = frozenset(
    {
        pycurl.E_COULDNT_RESOLVE_HOST,
        pycurl.E_COULDNT_CONNECT,
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_PEER_FAILED_VERIFICATION,
        pycurl.E_SEND_ERROR,
        pycurl.E_RECV_ERROR,
        pycurl.E_GOT_NOTHING,
    }
)
INTERRUPTED = "interrupted: the scheduler stopped before the answer came"


# Request and Outcome are made once per run: plain slotted classes are the cheapest to build.
@dataclass(slots=True)
class Request:
    """Everything needed to call one endpoint for one slot."""

    endpoint_id: int
    url: str
    method: str
    scheduled_for: datetime
    attempt: int
    headers: dict[str, str]
    body: str = ""
    timeout_seconds: float = 30
    max_response_bytes: int = 4096
    expected_status_codes: tuple[int, ...] = ()
    signing_secret: str = ""


@dataclass(slots=True)
class Outcome:
    status: str
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""


class BlockedAddress(Exception):
    """The URL points at an address the scheduler must not call."""


def default_allowed_hosts() -> frozenset[str]:
    """settings.OUTBOUND_ALLOWED_HOSTS plus the SITE_URL host (synthetic jobs call the app)."""
    hosts = {_normal_host(host) for host in settings.OUTBOUND_ALLOWED_HOSTS}
    site_host = urlsplit(settings.SITE_URL).hostname
    if site_host:
        hosts.add(_normal_host(site_host))
    return frozenset(hosts)


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".").strip("[]")


def is_blocked_address(address: str) -> bool:
    """True for anything that is not a public unicast address (private, loopback, link-local...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def idempotency_key(endpoint_id: int, scheduled_for: datetime) -> str:
    """The same for every attempt of one slot, so a target can drop a repeated delivery."""
    slot = scheduled_for.astimezone(UTC).isoformat()
    return hashlib.sha256(f"{endpoint_id}:{slot}".encode()).hexdigest()[:32]


def slot_header(scheduled_for: datetime) -> str:
    """X-Cronicorn-Scheduled-For: the slot in ISO 8601 UTC, like 2026-12-03T12:00:00Z."""
    return scheduled_for.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signature(secret: str, timestamp: int, body: str) -> str:
    """X-Cronicorn-Signature: HMAC-SHA256 over "<timestamp>.<body>", as t=<unix>,v1=<hex>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def build_headers(request: Request, timestamp: int) -> dict[str, str]:
    """The user's headers, then ours: the user cannot override the scheduler's headers."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in SCHEDULER_HEADERS
    }
    # Uncompressed answers: the excerpt stays readable and no small body inflates in memory.
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = "identity"
    headers["User-Agent"] = USER_AGENT
    headers["Idempotency-Key"] = idempotency_key(request.endpoint_id, request.scheduled_for)
    headers["X-Cronicorn-Scheduled-For"] = slot_header(request.scheduled_for)
    headers["X-Cronicorn-Attempt"] = str(request.attempt)
    if request.signing_secret:
        headers["X-Cronicorn-Signature"] = signature(
            request.signing_secret, timestamp, request.body
        )
    return headers


def is_success(status_code: int, expected: Iterable[int]) -> bool:
    expected = tuple(expected)
    return status_code in expected if expected else 200 <= status_code < 300


def check_url(url: URL, allowed_hosts: frozenset[str]) -> bool:
    """Refuse other schemes and literal internal addresses before anything is resolved.
    Returns whether the host is allowlisted: if not, each address it resolves to is checked
    too (_Call.open_socket)."""
    if url.scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs are called, not {url.scheme or 'none'}")
    host = _normal_host(url.host or "")
    if not host:
        raise BlockedAddress("the URL has no host")
    if host in allowed_hosts:
        return True
    try:
        blocked = is_blocked_address(host)
    except ValueError:
        return False  # a name
    if blocked:
        raise BlockedAddress(f"{host} is a private or local address")
    return False


@lru_cache(maxsize=16384)
def parse_url(url: str) -> URL:
    """Endpoints are called again and again: each URL is parsed and encoded once (URL objects
    are immutable, so sharing them is safe)."""
    return URL(url)


def _short(message: str) -> str:
    return message[:MAX_ERROR_CHARS]


class _Call:
    """One run in flight: where it is in its redirects, and what has been read so far."""

    __slots__ = (
        "allowlisted",
        "blocked",
        "body",
        "chunks",
        "clock",
        "cut",
        "deadline",
        "headers",
        "hops",
        "method",
        "request",
        "room",
        "started_at",
        "tag",
        "url",
    )

    def __init__(self, tag: Any, request: Request) -> None:
        self.tag = tag
        self.request = request
        self.started_at = datetime.now(UTC)
        self.clock = time.monotonic()
        self.deadline = self.clock + request.timeout_seconds
        self.url = parse_url(request.url)
        self.method = request.method
        self.body: str | None = request.body or None
        self.headers = build_headers(request, int(time.time()))
        self.hops = 0
        self.allowlisted = False  # set by check_url before each hop
        self.chunks: list[bytes] = []
        self.room = request.max_response_bytes
        self.cut = False
        self.blocked = ""

    def write(self, data: bytes) -> int | None:
        """libcurl's body callback: keep at most max_response_bytes, then stop reading."""
        if len(data) <= self.room:
            self.chunks.append(data)
            self.room -= len(data)
            return None
        self.chunks.append(data[: self.room])
        self.room = 0
        self.cut = True
        return 0  # aborts the transfer: a bigger body is cut off and its connection dropped

    def open_socket(self, purpose: int, address: Any) -> socket.socket | int:
        """libcurl's socket callback: each resolved address is checked before connecting."""
        if is_blocked_address(address.addr[0]):
            self.blocked = f"{self.url.host} resolves to a private or local address"
            return pycurl.SOCKET_BAD  # libcurl tries the host's next address, if any
        return socket.socket(address.family, address.socktype, address.protocol)

    def excerpt(self) -> str:
        # PostgreSQL text cannot hold NUL characters.
        return b"".join(self.chunks).decode("utf-8", errors="replace").replace("\x00", "")

    def outcome(self, status: str, **fields: Any) -> Outcome:
        return Outcome(
            status=status,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            duration_ms=int((time.monotonic() - self.clock) * 1000),
            **fields,
        )


class Dispatcher:
    """Runs requests on a background thread; outcomes come back through a queue.

    Tags are opaque to the dispatcher: the worker gets each one back with its Outcome. The
    thread waits (epoll or poll) on the sockets libcurl asks it to watch and on a wake-up socket that
    submit() and close() write to; libcurl does the connecting, writing, reading and parsing.
    """

    def __init__(self, concurrency: int, allowed_hosts: frozenset[str] | None = None) -> None:
        self.concurrency = concurrency
        self.allowed_hosts = default_allowed_hosts() if allowed_hosts is None else allowed_hosts
        # Outcomes go back in lists, one per pass of the thread: one wake-up for many answers.
        self._results: queue.SimpleQueue[list[tuple[Any, Outcome]]] = queue.SimpleQueue()
        self._submitted: queue.SimpleQueue[list[tuple[Any, Request]]] = queue.SimpleQueue()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._closing = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        # Only the dispatch thread touches what follows.
        self._calls: dict[pycurl.Curl, _Call] = {}
        self._done: list[tuple[Any, Outcome]] = []
        self._timer: float | None = None  # when libcurl wants socket_action(SOCKET_TIMEOUT)
        self._poller = select.epoll() if _HAS_EPOLL else select.poll()
        self._watched: set[int] = set()
        self._poller.register(self._wake_reader.fileno(), select.POLLIN)
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, concurrency)
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timer)
        self._thread = threading.Thread(target=self._serve, name="dispatch", daemon=True)
        self._thread.start()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def capacity(self) -> int:
        return max(0, self.concurrency - self._in_flight)

    def submit(self, items: Iterable[tuple[Any, Request]]) -> None:
        items = list(items)
        if not items:
            return
        with self._lock:
            self._in_flight += len(items)
        self._submitted.put(items)
        self._wake()

    def take(self, wait: float = 0) -> list[tuple[Any, Outcome]]:
        """Every outcome ready now; with `wait`, block up to that long for the first ones."""
        taken: list[tuple[Any, Outcome]] = []
        try:
            taken.extend(
                self._results.get(timeout=wait) if wait > 0 else self._results.get_nowait()
            )
            while True:
                taken.extend(self._results.get_nowait())
        except queue.Empty:
            return taken

    def close(self) -> None:
        """Interrupt what is left (each still reported, as an error) and stop the thread."""
        if self._thread.is_alive():
            self._closing = True
            self._wake()
            self._thread.join(timeout=10)
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        # A full buffer already wakes the thread; a closed one means it has stopped.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    # --- The dispatch thread -------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while not self._closing:
                try:
                    self._start_submitted()
                    self._wait_and_act()
                    self._finish_done()
                except Exception:  # a bug here must not strand the runs in flight
                    logger.exception("dispatch loop error")
                    time.sleep(0.1)
                self._hand_back()
        finally:
            self._interrupt_all()
            self._hand_back()
            self._multi.close()
            if _HAS_EPOLL:
                self._poller.close()

    def _wait_and_act(self) -> None:
        timeout = None if self._timer is None else max(0.0, self._timer - time.monotonic())
        if timeout is not None and not _HAS_EPOLL:
            timeout *= 1000  # poll() counts in milliseconds, epoll in seconds
        wake = self._wake_reader.fileno()
        for fd, events in self._poller.poll(timeout):
            if fd == wake:
                self._drain_wake()
                continue
            flags = 0
            if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                flags |= pycurl.CSELECT_IN
            if events & select.POLLOUT:
                flags |= pycurl.CSELECT_OUT
            if events & select.POLLERR:
                flags |= pycurl.CSELECT_ERR
            self._multi.socket_action(fd, flags)
        if self._timer is not None and time.monotonic() >= self._timer:
            self._timer = None
            self._multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(4096):
                pass

    def _watch_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        """libcurl's socket callback: which events to wait for on one of its sockets."""
        if what == pycurl.POLL_REMOVE:
            if fd in self._watched:
                self._watched.discard(fd)
                with contextlib.suppress(OSError):  # already closed: the poller dropped it
                    self._poller.unregister(fd)
            return
        mask = _POLL_MASKS[what]
        if fd in self._watched:
            try:
                self._poller.modify(fd, mask)
                return
            except FileNotFoundError:
                pass  # closed without a REMOVE and its number reused: the poller forgot it
        self._poller.register(fd, mask)
        self._watched.add(fd)

    def _set_timer(self, milliseconds: int) -> None:
        """libcurl's timer callback: -1 cancels, 0 means at once."""
        self._timer = None if milliseconds < 0 else time.monotonic() + milliseconds / 1000

    def _start_submitted(self) -> None:
        while True:
            try:
                items = self._submitted.get_nowait()
            except queue.Empty:
                return
            for tag, request in items:
                try:
                    call = _Call(tag, request)
                except Exception as exc:  # a bad URL or header must not lose the run
                    self._done.append((tag, _failed(exc)))
                    continue
                try:
                    call.allowlisted = check_url(call.url, self.allowed_hosts)
                except BlockedAddress as exc:
                    self._report(call, call.outcome(Run.Status.ERROR, error=f"blocked: {exc}"))
                    continue
                self._send(call)

    def _send(self, call: _Call) -> None:
        """Start the call's next hop on a fresh handle (no option left over from the last)."""
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            self._report(call, self._timed_out(call))
            return
        try:
            handle = self._handle(call, remaining)
        except Exception as exc:  # a header or URL libcurl refuses
            self._report(call, _failed(exc, call))
            return
        call.hops += 1
        call.chunks.clear()
        call.room = call.request.max_response_bytes
        call.cut = False
        call.blocked = ""
        self._calls[handle] = call
        self._multi.add_handle(handle)

    def _handle(self, call: _Call, remaining: float) -> pycurl.Curl:
        handle = pycurl.Curl()
        setopt = handle.setopt
        setopt(pycurl.NOSIGNAL, 1)  # threads: no SIGALRM around DNS
        setopt(pycurl.PROXY, "")  # never a proxy taken from the environment
        setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        setopt(pycurl.CAINFO, CA_BUNDLE)
        setopt(pycurl.URL, str(call.url))
        setopt(pycurl.TIMEOUT_MS, max(1, int(remaining * 1000)))
        setopt(pycurl.WRITEFUNCTION, call.write)
        if not call.allowlisted:
            setopt(pycurl.OPENSOCKETFUNCTION, call.open_socket)
        lines = [_header_line(name, value) for name, value in call.headers.items()]
        lines.append(b"Expect:")  # send the body at once, never wait for 100-continue
        method = call.method
        if call.body is not None or method in ("POST", "PUT", "PATCH"):
            body = (call.body or "").encode()
            setopt(pycurl.POSTFIELDS, body)  # also sets Content-Length
            if not any(name.lower() == "content-type" for name in call.headers):
                # libcurl would say a form was posted; the body is the endpoint's text.
                lines.append(
                    b"Content-Type: text/plain; charset=utf-8" if body else b"Content-Type:"
                )
            if method != "POST":
                setopt(pycurl.CUSTOMREQUEST, method)
        elif method == "HEAD":
            setopt(pycurl.NOBODY, 1)
        elif method != "GET":
            setopt(pycurl.CUSTOMREQUEST, method)
        setopt(pycurl.HTTPHEADER, lines)
        return handle

    def _finish_done(self) -> None:
        while True:
            queued, succeeded, failed = self._multi.info_read()
            for handle in succeeded:
                self._finish(handle, 0, "")
            for handle, errno, message in failed:
                self._finish(handle, errno, message)
            if not queued:
                return

    def _finish(self, handle: pycurl.Curl, errno: int, message: str) -> None:
        call = self._calls.pop(handle)
        self._multi.remove_handle(handle)
        try:
            outcome = self._classify(call, handle, errno, message)
        except Exception as exc:  # a bug must not lose the run, nor stop the thread
            outcome = call.outcome(Run.Status.ERROR, error=_short(f"internal error: {exc!r}"))
        finally:
            handle.close()
        if outcome is not None:
            self._report(call, outcome)

    def _classify(
        self, call: _Call, handle: pycurl.Curl, errno: int, message: str
    ) -> Outcome | None:
        """The run's outcome, or None when a redirect is being followed."""
        if errno == 0 or (errno == pycurl.E_WRITE_ERROR and call.cut):
            status_code = handle.getinfo(pycurl.RESPONSE_CODE)
            location = (
                handle.getinfo(pycurl.REDIRECT_URL) if status_code in REDIRECT_CODES else None
            )
            if location:
                return self._redirect(call, status_code, location)
            status = (
                Run.Status.SUCCESS
                if is_success(status_code, call.request.expected_status_codes)
                else Run.Status.FAILURE
            )
            return call.outcome(status, status_code=status_code, response_excerpt=call.excerpt())
        if errno == pycurl.E_OPERATION_TIMEDOUT:
            return self._timed_out(call)
        if call.blocked:
            return call.outcome(Run.Status.ERROR, error=f"blocked: {call.blocked}")
        if errno in CONNECTION_ERRORS:
            return call.outcome(Run.Status.ERROR, error=_short(f"connection failed: {message}"))
        return call.outcome(Run.Status.ERROR, error=_short(message or f"libcurl error {errno}"))

    def _redirect(self, call: _Call, status_code: int, location: str) -> Outcome | None:
        if call.hops > MAX_REDIRECTS:
            return call.outcome(Run.Status.ERROR, error=f"more than {MAX_REDIRECTS} redirects")
        next_url = parse_url(location)
        try:
            call.allowlisted = check_url(next_url, self.allowed_hosts)
        except BlockedAddress as exc:
            return call.outcome(Run.Status.ERROR, error=f"blocked: {exc}")
        if status_code == 303 or (status_code in (301, 302) and call.method == "POST"):
            call.method = "HEAD" if call.method == "HEAD" else "GET"
            call.body = None
        if next_url.host != call.url.host:
            call.headers = {
                name: value
                for name, value in call.headers.items()
                if name.lower() not in CREDENTIAL_HEADERS
            }
        call.url = next_url
        self._send(call)
        return None

    def _timed_out(self, call: _Call) -> Outcome:
        return call.outcome(
            Run.Status.TIMEOUT, error=f"no answer within {call.request.timeout_seconds} s"
        )

    def _report(self, call: _Call, outcome: Outcome) -> None:
        self._done.append((call.tag, outcome))

    def _hand_back(self) -> None:
        """Give this pass's outcomes to the worker, in one piece."""
        if not self._done:
            return
        done, self._done = self._done, []
        with self._lock:
            self._in_flight -= len(done)
        self._results.put(done)

    def _interrupt_all(self) -> None:
        """Stopped before the answers came: the requests may have gone out, so each is reported."""
        for handle, call in list(self._calls.items()):
            self._multi.remove_handle(handle)
            handle.close()
            self._report(call, call.outcome(Run.Status.ERROR, error=INTERRUPTED))
        self._calls.clear()
        while True:  # submitted but never started
            try:
                items = self._submitted.get_nowait()
            except queue.Empty:
                return
            for tag, _request in items:
                now = datetime.now(UTC)
                self._done.append((tag, Outcome(Run.Status.ERROR, now, now, 0, error=INTERRUPTED)))


# epoll on Linux, poll elsewhere (macOS): the same calls and event bits, and epoll does not
# pass every watched socket to the kernel on each wait.
_HAS_EPOLL = hasattr(select, "epoll")
_POLL_MASKS = {
    pycurl.POLL_IN: select.POLLIN,
    pycurl.POLL_OUT: select.POLLOUT,
    pycurl.POLL_INOUT: select.POLLIN | select.POLLOUT,
}


def _failed(exc: Exception, call: _Call | None = None) -> Outcome:
    error = _short(f"{type(exc).__name__}: {exc}")
    if call is not None:
        return call.outcome(Run.Status.ERROR, error=error)
    now = datetime.now(UTC)
    return Outcome(Run.Status.ERROR, now, now, 0, error=error)


def _header_line(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
        raise ValueError(f"the header {name!r} contains a line break")
    # libcurl drops "Name:" (no value); "Name;" is how it sends an empty one. UTF-8, as bytes:
    # pycurl takes text headers as ASCII only.
    return (f"{name}: {value}" if value else f"{name};").encode()
