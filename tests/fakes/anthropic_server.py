"""A fake of the Anthropic Messages API on 127.0.0.1, driven by a script of turns.

The real ``anthropic`` SDK talks to it through ``ANTHROPIC_BASE_URL`` (or ``base_url``).
``POST /v1/messages`` checks the key (``x-api-key`` or ``Authorization: Bearer``) and the
``anthropic-version`` header, records every request, and answers with the next turn of the
script:

* ``text_turn("...")``: an assistant message that ends the turn;
* ``tool_turn(("read_log", {...}), ...)``: ``tool_use`` blocks with ``stop_reason: "tool_use"``;
* ``error_turn(429)`` (or 500, 529): an API error body with that status;
* ``slow_turn(seconds, turn)``: waits, then answers with ``turn`` (for client timeouts);
* a callable taking the request body and returning one of the above, for answers that
  depend on what the client sent.

An empty script answers 500 with ``fake script exhausted``. Streaming (``stream: true``) is
not implemented and answers 400, because the AI service does not stream from the model.
"""

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hfd.embedded import free_port

API_KEY = "test-key-not-secret"
Turn = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ids = itertools.count(1)


def text_turn(text: str) -> dict[str, Any]:
    return {"kind": "message", "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}


def tool_turn(*calls: tuple[str, dict[str, Any]], text: str = "") -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for name, arguments in calls:
        content.append({"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": arguments})
    return {"kind": "message", "content": content, "stop_reason": "tool_use"}


def error_turn(status: int, message: str = "scripted error") -> dict[str, Any]:
    return {"kind": "error", "status": status, "message": message}


def slow_turn(seconds: float, turn: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "slow", "seconds": seconds, "turn": turn}


@dataclass
class RecordedRequest:
    """One request the fake received: headers and the JSON body."""

    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def tool_names(self) -> list[str]:
        return [tool["name"] for tool in self.body.get("tools", [])]

    def tool_results(self) -> list[dict[str, Any]]:
        """Return the tool_result blocks of the last user message."""
        content = self.body["messages"][-1]["content"]
        if isinstance(content, str):
            return []
        return [block for block in content if block.get("type") == "tool_result"]

    def text(self) -> str:
        """Return every text of the request's messages, joined, for searching."""
        parts = []
        for message in self.body.get("messages", []):
            content = message["content"]
            if isinstance(content, str):
                parts.append(content)
                continue
            for block in content:
                parts.append(str(block.get("text") or block.get("content") or ""))
        return "\n".join(parts)


@dataclass
class FakeAnthropic:
    """The fake server; use as a context manager, then ``script(...)`` turns for each test."""

    api_key: str = API_KEY
    port: int = field(default_factory=free_port)
    requests: list[RecordedRequest] = field(default_factory=list)
    _turns: deque = field(default_factory=deque)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *turns: Turn) -> None:
        """Replace the script and forget the recorded requests."""
        self._turns = deque(turns)
        self.requests.clear()

    def remaining(self) -> int:
        return len(self._turns)

    async def _messages(self, request: Request) -> JSONResponse:
        headers = {key.lower(): value for key, value in request.headers.items()}
        body = await request.json()
        self.requests.append(RecordedRequest(headers=headers, body=body))

        supplied = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        if supplied != self.api_key:
            return _error(401, "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return _error(400, "anthropic-version header is required")
        if body.get("stream"):
            return _error(400, "streaming is not implemented by this fake")
        if not self._turns:
            return _error(500, "fake script exhausted")

        turn = self._turns.popleft()
        if callable(turn):
            turn = turn(body)
        while turn["kind"] == "slow":
            await asyncio.sleep(turn["seconds"])
            turn = turn["turn"]
        if turn["kind"] == "error":
            return _error(turn["status"], turn["message"])
        return JSONResponse(_message(body, turn))

    def __enter__(self) -> "FakeAnthropic":
        app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-anthropic", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake Anthropic server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def _message(body: dict[str, Any], turn: dict[str, Any]) -> dict[str, Any]:
    prompt_chars = len(str(body.get("messages", ""))) + len(str(body.get("system", "")))
    output_chars = len(str(turn["content"]))
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": turn["content"],
        "stop_reason": turn["stop_reason"],
        "stop_sequence": None,
        "usage": {"input_tokens": max(1, prompt_chars // 4), "output_tokens": max(1, output_chars // 4)},
    }


def _error(status: int, message: str) -> JSONResponse:
    body = {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}
    # A short retry-after keeps the SDK's retries fast in tests.
    return JSONResponse(body, status_code=status, headers={"retry-after-ms": "20"})
