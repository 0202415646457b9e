"""Chat about the user's clusters: the model with the same read-only tools as a diagnosis."""

import logging
import uuid
from typing import Any

from anthropic import AsyncAnthropic

from libs.common.db import Database
from libs.common.errors import ServiceError
from libs.common.rpc import Principal
from services.ai import service
from services.ai.config import AiSettings
from services.ai.diagnosis.llm import LlmUnavailable, ToolLoop
from services.ai.diagnosis.prompts import CHAT_SYSTEM
from services.ai.diagnosis.tools import ToolBox
from services.ai.schemas import ChatMessageIn, ChatRequest
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)


class LlmNotConfigured(ServiceError):
    status_code = 503
    code = "llm_unavailable"


def to_api_messages(messages: list[ChatMessageIn]) -> list[dict[str, Any]]:
    """Turn chat messages into alternating user/assistant turns that start with the user.

    A ``system`` message from the client becomes a user turn marked as a client note, so a
    client can add context but cannot replace the service's system prompt.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        text = f"(client note) {message.content}" if message.role == "system" else message.content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += f"\n\n{text}"
        else:
            turns.append({"role": role, "content": text})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns


class ChatFlows:
    """Replies to chat messages and stores the sessions of the web client."""

    def __init__(self, db: Database, settings: AiSettings, client: AsyncAnthropic | None) -> None:
        self.db = db
        self.settings = settings
        self.client = client

    async def reply(self, body: ChatRequest, principal: Principal, upstream: Upstream) -> dict[str, str]:
        """Return ``{"reply", "sessionId"}``; raise ``LlmNotConfigured`` without a working model."""
        if self.client is None:
            raise LlmNotConfigured()
        session_id = body.sessionId or uuid.uuid4().hex
        messages = await self._conversation(body, principal, session_id)

        toolbox = ToolBox(
            upstream,
            principal,
            None,
            output_limit=self.settings.tool_output_max_chars,
            command_timeout=self.settings.tool_timeout_seconds,
        )
        loop = ToolLoop(self.client, self.settings, toolbox)
        try:
            result = await loop.run(CHAT_SYSTEM, to_api_messages(messages), self.settings.chat_max_steps)
        except LlmUnavailable as error:
            logger.warning("chat reply failed user=%s reason=%s", principal.username, error.reason)
            raise LlmNotConfigured() from error

        reply = result.text.replace("\x00", "").strip()
        if body.message:
            async with self.db.session() as session:
                await service.add_chat_message(
                    session, session_id=session_id, user_id=principal.user_id, role="user", content=body.message
                )
                await service.add_chat_message(
                    session, session_id=session_id, user_id=principal.user_id, role="assistant", content=reply
                )
        logger.info("chat replied user=%s session=%s tokens=%d", principal.username, session_id, result.tokens)
        return {"reply": reply, "sessionId": session_id}

    async def _conversation(self, body: ChatRequest, principal: Principal, session_id: str) -> list[ChatMessageIn]:
        if body.messages:
            return list(body.messages)
        async with self.db.session() as session:
            stored = await service.list_chat_messages(
                session, session_id=session_id, user_id=principal.user_id, limit=self.settings.chat_history_messages
            )
        history = [ChatMessageIn(role=row.role, content=row.content) for row in stored]  # type: ignore[arg-type]
        return [*history, ChatMessageIn(role="user", content=str(body.message))]

    async def history(self, session_id: str, principal: Principal) -> dict[str, list[dict[str, str]]]:
        async with self.db.session() as session:
            rows = await service.list_chat_messages(session, session_id=session_id, user_id=principal.user_id)
        return {"messages": [{"role": row.role, "content": row.content} for row in rows]}
