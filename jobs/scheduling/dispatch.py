"""Concurrent HTTP execution of runs: one asyncio loop with one aiohttp session in a thread.

The worker's main thread submits requests and takes outcomes back; nothing here touches the
database. Outbound safety (no private, loopback or link-local address unless allowlisted) is
checked after DNS resolution and on every redirect hop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import ResolveResult
from django.conf import settings
from multidict import CIMultiDict
from yarl import URL

import cronicorn
from jobs.models import Run

USER_AGENT = f"cronicorn/{cronicorn.__version__}"
MAX_REDIRECTS = 5
MAX_ERROR_CHARS = 500
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another host: they carry the caller's credentials.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Outcome:
    status: str
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""


class BlockedAddress(OSError):
    """The host resolves to an address the scheduler must not call."""


class TooManyRedirects(Exception):
    pass


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


def build_headers(request: Request, timestamp: int) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(request.headers)
    # Uncompressed answers: the excerpt stays readable and no small body inflates in memory.
    headers.setdefault("Accept-Encoding", "identity")
    # update() replaces case-insensitively: the user cannot override the headers below.
    headers.update(
        {
            "User-Agent": USER_AGENT,
            "Idempotency-Key": idempotency_key(request.endpoint_id, request.scheduled_for),
            "X-Cronicorn-Scheduled-For": slot_header(request.scheduled_for),
            "X-Cronicorn-Attempt": str(request.attempt),
        }
    )
    if request.signing_secret:
        headers["X-Cronicorn-Signature"] = signature(
            request.signing_secret, timestamp, request.body
        )
    return headers


def is_success(status_code: int, expected: Iterable[int]) -> bool:
    expected = tuple(expected)
    return status_code in expected if expected else 200 <= status_code < 300


class GuardedResolver(aiohttp.ThreadedResolver):
    """Drops blocked addresses after resolution, so DNS cannot point a run at the inside."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        super().__init__()
        self.allowed_hosts = allowed_hosts

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if _normal_host(host) in self.allowed_hosts:
            return results
        allowed = [result for result in results if not is_blocked_address(result["host"])]
        if not allowed:
            raise BlockedAddress(f"{host} resolves to a private or local address")
        return allowed


def check_url(url: URL, allowed_hosts: frozenset[str]) -> None:
    """Refuse what the resolver never sees: other schemes and literal internal addresses."""
    if url.scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs are called, not {url.scheme or 'none'}")
    host = _normal_host(url.host or "")
    if not host:
        raise BlockedAddress("the URL has no host")
    if host in allowed_hosts:
        return
    try:
        blocked = is_blocked_address(host)
    except ValueError:
        return  # a name: GuardedResolver checks what it resolves to
    if blocked:
        raise BlockedAddress(f"{host} is a private or local address")


async def execute(
    session: aiohttp.ClientSession, request: Request, allowed_hosts: frozenset[str]
) -> Outcome:
    """Call one endpoint, following redirects hop by hop, and classify what happened."""
    started_at = datetime.now(UTC)
    clock = time.monotonic()

    def outcome(status: str, **fields: Any) -> Outcome:
        return Outcome(
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            duration_ms=int((time.monotonic() - clock) * 1000),
            **fields,
        )

    try:
        async with asyncio.timeout(request.timeout_seconds):
            status_code, excerpt = await _follow(session, request, allowed_hosts)
    except TimeoutError:
        return outcome(Run.Status.TIMEOUT, error=f"no answer within {request.timeout_seconds} s")
    except BlockedAddress as exc:
        return outcome(Run.Status.ERROR, error=f"blocked: {exc}")
    except TooManyRedirects as exc:
        return outcome(Run.Status.ERROR, error=str(exc))
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, BlockedAddress):
            return outcome(Run.Status.ERROR, error=f"blocked: {exc.os_error}")
        return outcome(Run.Status.ERROR, error=_short(f"connection failed: {exc}"))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return outcome(Run.Status.ERROR, error=_short(f"{type(exc).__name__}: {exc}"))
    status = (
        Run.Status.SUCCESS
        if is_success(status_code, request.expected_status_codes)
        else Run.Status.FAILURE
    )
    return outcome(status, status_code=status_code, response_excerpt=excerpt)


async def _follow(
    session: aiohttp.ClientSession, request: Request, allowed_hosts: frozenset[str]
) -> tuple[int, str]:
    url = URL(request.url)
    method = request.method
    body: str | None = request.body or None
    headers = build_headers(request, int(time.time()))
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url, allowed_hosts)
        async with session.request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as response:
            location = response.headers.get("Location")
            if response.status not in REDIRECT_CODES or not location:
                excerpt = await _read_capped(response, request.max_response_bytes)
                return response.status, excerpt
            next_url = url.join(URL(location))
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
            if next_url.host != url.host:
                for name in CREDENTIAL_HEADERS:
                    headers.popall(name, None)
            url = next_url
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> str:
    """Read at most `limit` bytes; a bigger body is cut off and its connection dropped."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = await response.content.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    if not response.content.at_eof():
        response.close()
    # PostgreSQL text cannot hold NUL characters.
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\x00", "")


def _short(message: str) -> str:
    return message[:MAX_ERROR_CHARS]


class Dispatcher:
    """Runs requests on a background event loop; outcomes come back through a queue.

    Tags are opaque to the dispatcher: the worker gets each one back with its Outcome.
    """

    def __init__(self, concurrency: int, allowed_hosts: frozenset[str] | None = None) -> None:
        self.concurrency = concurrency
        self.allowed_hosts = default_allowed_hosts() if allowed_hosts is None else allowed_hosts
        self._results: queue.SimpleQueue[tuple[Any, Outcome]] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="dispatch", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.concurrency, resolver=GuardedResolver(self.allowed_hosts)
        )
        # Per-request timeouts are ours (Request.timeout_seconds), over all redirect hops.
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,  # see build_headers: a gzip bomb is read as its bytes
            cookie_jar=aiohttp.DummyCookieJar(),
        )

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
        # One hop into the loop per batch, not one per request.
        self._loop.call_soon_threadsafe(self._start, items)

    def _start(self, items: list[tuple[Any, Request]]) -> None:
        for tag, request in items:
            task = self._loop.create_task(self._run(tag, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, tag: Any, request: Request) -> None:
        assert self._session is not None
        try:
            result = await execute(self._session, request, self.allowed_hosts)
        except asyncio.CancelledError:
            # Stopped before the answer came: the request may have gone out, so it is recorded.
            now = datetime.now(UTC)
            result = Outcome(
                status=Run.Status.ERROR,
                started_at=now,
                finished_at=now,
                duration_ms=0,
                error="interrupted: the scheduler stopped before the answer came",
            )
        except Exception as exc:  # a bug must not lose the run, nor kill the loop
            now = datetime.now(UTC)
            result = Outcome(
                Run.Status.ERROR, now, now, 0, error=_short(f"internal error: {exc!r}")
            )
        with self._lock:
            self._in_flight -= 1
        self._results.put((tag, result))

    def take(self, wait: float = 0) -> list[tuple[Any, Outcome]]:
        """Every outcome ready now; with `wait`, block up to that long for the first one."""
        taken: list[tuple[Any, Outcome]] = []
        try:
            taken.append(
                self._results.get(timeout=wait) if wait > 0 else self._results.get_nowait()
            )
            while True:
                taken.append(self._results.get_nowait())
        except queue.Empty:
            return taken

    def close(self) -> None:
        """Cancel what is left, close the session and stop the loop."""

        async def shutdown() -> None:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._session is not None:
                await self._session.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
