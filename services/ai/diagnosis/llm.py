"""The Messages API tool loop shared by diagnoses and chat, on the official ``anthropic`` SDK.

Guards: at most ``max_steps`` model requests, and the last one offers no tools. A call
identical to an earlier one is not run, and the model gets an error result instead. Every
tool result is bounded, wrapped as data and sent back with its status.
"""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from services.ai.config import AiSettings
from services.ai.diagnosis.base import DiagnosisStep
from services.ai.diagnosis.prompts import FINAL_STEP_NOTE, escape_data
from services.ai.diagnosis.tools import ToolBox, ToolOutcome

logger = logging.getLogger(__name__)

STEP_RESULT_CHARS = 300


class LlmUnavailable(Exception):
    """The model could not be used: not configured, or the API failed after the SDK's retries."""

    def __init__(self, reason: str, steps: list[DiagnosisStep] | None = None, tokens: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps = steps or []
        self.tokens = tokens


@dataclass
class LoopResult:
    """The model's final text, the steps taken and the tokens spent."""

    text: str
    steps: list[DiagnosisStep] = field(default_factory=list)
    tokens: int = 0
    requests: int = 0


def make_client(settings: AiSettings) -> AsyncAnthropic | None:
    """Return an SDK client, or None when no API key is configured."""
    if not settings.llm_configured:
        return None
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url or None,
        timeout=settings.request_timeout_seconds,
        max_retries=settings.max_retries,
    )


def _assistant_blocks(content: list[Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    return blocks


def _wrap_result(name: str, outcome: ToolOutcome) -> str:
    return f'<tool_output tool="{name}" status="{outcome.status}">\n{escape_data(outcome.text)}\n</tool_output>'


def _flatten_tool_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn tool_use and tool_result blocks into text, for the last request, which offers no tools.

    The Messages API rejects tool blocks in a request that declares no tools, so the history
    keeps the same information as plain text.
    """
    flattened = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            flattened.append(message)
            continue
        blocks = []
        for block in content:
            if block["type"] == "tool_use":
                text = f"[tool call {block['name']} {json.dumps(block['input'], ensure_ascii=False)}]"
                blocks.append({"type": "text", "text": text})
            elif block["type"] == "tool_result":
                blocks.append({"type": "text", "text": block["content"]})
            else:
                blocks.append(block)
        flattened.append({"role": message["role"], "content": blocks})
    return flattened


def _with_final_note(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = messages[-1]
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return [*messages[:-1], {"role": "user", "content": [*blocks, {"type": "text", "text": FINAL_STEP_NOTE}]}]


class ToolLoop:
    """Runs one conversation with the model, tools and guards."""

    def __init__(self, client: AsyncAnthropic, settings: AiSettings, toolbox: ToolBox) -> None:
        self.client = client
        self.settings = settings
        self.toolbox = toolbox
        self._seen_calls: set[str] = set()

    async def run(self, system: str, messages: list[dict[str, Any]], max_steps: int) -> LoopResult:
        """Send requests until the model replies without tool calls or the step limit is reached."""
        result = LoopResult(text="")
        history = list(messages)
        for step in range(1, max_steps + 1):
            last = step == max_steps
            response = await self._request(system, history, offer_tools=not last, result=result)
            history.append({"role": "assistant", "content": _assistant_blocks(response.content)})
            tool_uses = [block for block in response.content if block.type == "tool_use"]
            result.text = "".join(block.text for block in response.content if block.type == "text")
            if last or response.stop_reason != "tool_use" or not tool_uses:
                return result
            history.append({"role": "user", "content": await self._run_tools(tool_uses, result)})
        return result

    async def _request(self, system: str, history: list[dict[str, Any]], *, offer_tools: bool, result: LoopResult):
        arguments: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": self.settings.max_output_tokens,
            "system": system,
        }
        if offer_tools:
            arguments["messages"] = history
            arguments["tools"] = self.toolbox.definitions()
        else:
            arguments["messages"] = _with_final_note(_flatten_tool_blocks(history))

        try:
            response = await self.client.messages.create(**arguments)
        except anthropic.APITimeoutError as error:
            raise LlmUnavailable("timeout", result.steps, result.tokens) from error
        except anthropic.APIConnectionError as error:
            raise LlmUnavailable("connection_error", result.steps, result.tokens) from error
        except anthropic.APIStatusError as error:
            raise LlmUnavailable(f"api_error_{error.status_code}", result.steps, result.tokens) from error
        except anthropic.APIError as error:  # e.g. a response that does not match the API's schema
            raise LlmUnavailable("api_error", result.steps, result.tokens) from error

        result.requests += 1
        result.tokens += response.usage.input_tokens + response.usage.output_tokens
        return response

    async def _run_tools(self, tool_uses: list[Any], result: LoopResult) -> list[dict[str, Any]]:
        blocks = []
        for use in tool_uses:
            call_key = f"{use.name}:{json.dumps(use.input, sort_keys=True, ensure_ascii=False)}"
            if call_key in self._seen_calls:
                outcome = ToolOutcome.error(
                    "this exact call was already made in this conversation and was not run again; use its result"
                )
                logger.info("repeated tool call rejected tool=%s", use.name)
            else:
                self._seen_calls.add(call_key)
                outcome = await self.toolbox.call(use.name, use.input)

            result.steps.append(
                DiagnosisStep(
                    action=use.name,
                    content=json.dumps(use.input, ensure_ascii=False)[:STEP_RESULT_CHARS],
                    result=outcome.text[:STEP_RESULT_CHARS],
                )
            )
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use.id,
                    "content": _wrap_result(use.name, outcome),
                    "is_error": outcome.status == "error",
                }
            )
        return blocks
