"""Runtime-switchable fault injection as pure ASGI middleware.

Control endpoint (never subject to faults, nor is ``/_health``):

* ``GET /_faults`` -> the current switches plus ``"stats"`` (requests seen, faults injected);
* ``PUT /_faults`` -> replace the switches (omitted keys take their defaults), reseed the
  random source and zero the stats; 422 with ``{"detail": [...]}`` on bad values;
* ``PATCH /_faults`` -> change only the given keys (also reseeds and zeroes the stats);
* ``DELETE /_faults`` -> back to no faults, stats zeroed.

Switches (JSON)::

    {"error_rate": 0.0,       # fraction answered 500/502/503
     "rate_limit_rate": 0.0,  # fraction answered 429 with a Retry-After header
     "retry_after_s": 1.0,    # Retry-After value (seconds; fractional values are sent as-is)
     "latency_ms": 0,         # added before every faulted-or-not request
     "malformed_rate": 0.0,   # fraction answered 200 with a truncated, invalid JSON body
     "fail_first": 0,         # the next N requests fail with 503 (deterministic)
     "down": false,           # every request 503
     "seed": 0}               # seeds the per-request draw, so a test is reproducible

Order of decisions per request: latency, then ``down``, then ``fail_first``, then one
uniform draw ``u`` picks error (``u < error_rate``), rate limit, malformed, or pass-through.
The three rates must sum to at most 1.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PATH = "/_faults"
EXEMPT_PATHS = frozenset({CONTROL_PATH, "/_health"})
ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class FaultConfig:
    """The fault switches; all zero/false means a healthy server."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: float = 1.0
    latency_ms: int = 0
    malformed_rate: float = 0.0
    fail_first: int = 0
    down: bool = False
    seed: int = 0


@dataclass
class FaultStats:
    """Counters since the switches were last set (PUT/PATCH) or reset (DELETE)."""

    requests: int = 0  # requests seen by the middleware, excluding /_faults and /_health
    faults: int = 0  # requests answered with an injected fault (latency not counted)
    by_kind: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("down", "fail_first", "error", "rate_limit", "malformed"), 0
        )
    )


class ConfigError(ValueError):
    """Invalid switch values; ``problems`` is a list of FastAPI-style error dicts."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(p["msg"] for p in problems))
        self.problems = problems


_RATES = ("error_rate", "rate_limit_rate", "malformed_rate")


def parse_config(payload: Any, base: FaultConfig | None = None) -> FaultConfig:
    """Validate a JSON payload into a ``FaultConfig`` (on top of ``base`` if given).

    Raises:
        ConfigError: on unknown keys, wrong types or out-of-range values.
    """
    if not isinstance(payload, dict):
        raise ConfigError([_problem([], "body must be a JSON object")])
    known = {f.name for f in fields(FaultConfig)}
    problems = [_problem([key], "unknown fault switch") for key in payload if key not in known]
    values = asdict(base or FaultConfig())
    for key, value in payload.items():
        if key not in known:
            continue
        if key in (*_RATES, "retry_after_s"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and value >= 0
            if ok and key in _RATES:
                ok = value <= 1
            if not ok:
                bound = "a number in [0, 1]" if key in _RATES else "a number >= 0"
                problems.append(_problem([key], f"must be {bound}"))
                continue
            values[key] = float(value)
        elif key == "down":
            if not isinstance(value, bool):
                problems.append(_problem([key], "must be a boolean"))
                continue
            values[key] = value
        else:  # latency_ms, fail_first, seed
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(_problem([key], "must be an integer >= 0"))
                continue
            if key == "latency_ms" and value > 60_000:
                problems.append(_problem([key], "must be <= 60000"))
                continue
            values[key] = value
    if not problems and sum(values[key] for key in _RATES) > 1:
        problems.append(_problem([], "error_rate + rate_limit_rate + malformed_rate must be <= 1"))
    if problems:
        raise ConfigError(problems)
    return FaultConfig(**values)


def _problem(loc: list[str], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


class FaultController:
    """Thread-safe holder of the current switches, random source and stats."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Install ``config``, reseed the random source and zero the stats."""
        with self._lock:
            self.config = config
            self._remaining_failures = config.fail_first
            self._rng = random.Random(config.seed)
            self.stats = FaultStats()

    def reset(self) -> None:
        """Back to a healthy server."""
        self.configure(FaultConfig())

    def snapshot(self) -> dict[str, Any]:
        """Switches plus stats, as served by ``GET /_faults``."""
        with self._lock:
            body = asdict(self.config)
            body["fail_first_remaining"] = self._remaining_failures
            body["stats"] = asdict(self.stats)
        return body

    def decide(self) -> str | None:
        """Count one request and return the fault to inject, or ``None`` to pass through."""
        with self._lock:
            config = self.config
            self.stats.requests += 1
            kind: str | None = None
            if config.down:
                kind = "down"
            elif self._remaining_failures > 0:
                self._remaining_failures -= 1
                kind = "fail_first"
            else:
                draw = self._rng.random()
                if draw < config.error_rate:
                    kind = "error"
                elif draw < config.error_rate + config.rate_limit_rate:
                    kind = "rate_limit"
                elif draw < config.error_rate + config.rate_limit_rate + config.malformed_rate:
                    kind = "malformed"
            if kind is not None:
                self.stats.faults += 1
                self.stats.by_kind[kind] += 1
            return kind

    def error_status(self) -> int:
        """Pick 500, 502 or 503 from the seeded random source."""
        with self._lock:
            return self._rng.choice(ERROR_STATUSES)


def format_retry_after(seconds: float) -> str:
    """``1.0`` -> ``"1"``, ``0.25`` -> ``"0.25"`` (whole seconds as integers, per RFC 9110)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def truncate_json(body: bytes) -> bytes:
    """Return a prefix of ``body`` that is guaranteed not to parse as JSON."""
    candidate = body[: max(1, len(body) // 2)]
    try:
        json.loads(candidate)
    except (ValueError, UnicodeDecodeError):
        return candidate
    return b'{"truncated": '


class FaultInjectionMiddleware:
    """ASGI middleware that serves ``/_faults`` and injects faults into other HTTP requests."""

    def __init__(self, app: ASGIApp, controller: FaultController | None = None) -> None:
        self.app = app
        self.controller = controller or FaultController()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == CONTROL_PATH:
            await self._control(scope, receive, send)
            return
        if path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        controller = self.controller
        latency_ms = controller.config.latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        kind = controller.decide()
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "malformed":
            await self._malformed(scope, receive, send)
        elif kind == "rate_limit":
            retry_after = format_retry_after(controller.config.retry_after_s)
            await _send_json(
                send,
                429,
                {
                    "error": "injected fault: rate limited",
                    "retry_after_s": controller.config.retry_after_s,
                },
                [(b"retry-after", retry_after.encode())],
            )
        else:
            status = controller.error_status() if kind == "error" else 503
            await _send_json(send, status, {"error": f"injected fault: {kind}", "status": status})

    async def _malformed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the real app, then answer 200 with its body cut short."""
        body = bytearray()
        headers: list[tuple[bytes, bytes]] = []

        async def capture(message: Message) -> None:
            nonlocal headers
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"
                ]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        broken = truncate_json(bytes(body))
        headers.append((b"content-length", str(len(broken)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": broken})

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        controller = self.controller
        if method == "GET":
            await _send_json(send, 200, controller.snapshot())
        elif method == "DELETE":
            controller.reset()
            await _send_json(send, 200, controller.snapshot())
        elif method in ("PUT", "PATCH"):
            raw = await _read_body(receive)
            try:
                payload = json.loads(raw or b"null")
                base = controller.config if method == "PATCH" else None
                controller.configure(parse_config(payload, base))
            except json.JSONDecodeError:
                await _send_json(send, 422, {"detail": [_problem([], "body must be JSON")]})
                return
            except ConfigError as exc:
                await _send_json(send, 422, {"detail": exc.problems})
                return
            await _send_json(send, 200, controller.snapshot())
        else:
            await _send_json(
                send,
                405,
                {"error": f"method {method} not allowed"},
                [(b"allow", b"GET, PUT, PATCH, DELETE")],
            )


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_json(
    send: Send,
    status: int,
    payload: Any,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
