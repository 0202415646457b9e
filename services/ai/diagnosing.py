"""Choosing the diagnoser for one diagnosis: the model within the cluster's budget, else offline.

The budget is per cluster: at most ``max_diagnoses_per_cluster_per_hour`` model diagnoses in
a rolling hour and ``max_tokens_per_cluster_per_day`` model tokens in a rolling day, both
counted from the stored diagnoses. Over either, and whenever the model is not configured or
its API fails, the offline diagnoser produces the diagnosis, which states the reason.
"""

import logging
from datetime import timedelta

from anthropic import AsyncAnthropic

from libs.common.db import Database
from libs.common.timeutil import utcnow
from services.ai import service
from services.ai.config import AiSettings
from services.ai.diagnosis.base import Diagnosis, DiagnosisContext, Language, Localized
from services.ai.diagnosis.claude import ClaudeDiagnoser
from services.ai.diagnosis.llm import LlmUnavailable
from services.ai.diagnosis.offline import OfflineDiagnoser
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)


def fallback_reason(reason: str, settings: AiSettings) -> Localized:
    """Return, in both languages, why the offline diagnoser produced the diagnosis."""
    if reason == "not_configured":
        return Localized(
            zh="未配置模型 API 密钥，由离线诊断给出结果。",
            en="No model API key is configured; the offline diagnoser answered.",
        )
    if reason == "hourly_budget":
        limit = settings.max_diagnoses_per_cluster_per_hour
        return Localized(
            zh=f"该集群一小时内的模型诊断已达上限（{limit} 次），由离线诊断给出结果。",
            en=f"The cluster used its model budget of {limit} diagnoses per hour; the offline diagnoser answered.",
        )
    if reason == "token_budget":
        limit = settings.max_tokens_per_cluster_per_day
        return Localized(
            zh=f"该集群一天内的模型用量已达上限（{limit} 个 token），由离线诊断给出结果。",
            en=f"The cluster used its model budget of {limit} tokens per day; the offline diagnoser answered.",
        )
    if reason == "events_offline":
        return Localized(
            zh="按配置，自动诊断不使用模型（HFD_AI_MODEL_FOR_EVENTS），由离线诊断给出结果。",
            en="Unattended diagnoses do not use the model (HFD_AI_MODEL_FOR_EVENTS); the offline diagnoser answered.",
        )
    if reason == "timeout":
        return Localized(
            zh="模型 API 超时，由离线诊断给出结果。", en="The model API timed out; the offline diagnoser answered."
        )
    if reason == "invalid_answer":
        return Localized(
            zh="模型的回答格式无效，由离线诊断给出结果。",
            en="The model's answer was not valid; the offline diagnoser answered.",
        )
    return Localized(
        zh=f"模型 API 调用失败（{reason}），由离线诊断给出结果。",
        en=f"The model API call failed ({reason}); the offline diagnoser answered.",
    )


class DiagnosisRunner:
    """Runs one diagnosis with the model when allowed, falling back to the offline diagnoser."""

    def __init__(self, db: Database, settings: AiSettings, client: AsyncAnthropic | None) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        self.offline = OfflineDiagnoser(frozenset(settings.extra_safe_actions))

    async def budget_refusal(self, cluster: str) -> str | None:
        """Return why the cluster may not use the model now, or None when it may."""
        if self.client is None:
            return "not_configured"
        now = utcnow()
        async with self.db.session() as session:
            hourly = await service.count_model_diagnoses(session, cluster=cluster, since=now - timedelta(hours=1))
            tokens = await service.sum_tokens(session, cluster=cluster, since=now - timedelta(days=1))
        if hourly >= self.settings.max_diagnoses_per_cluster_per_hour:
            return "hourly_budget"
        if tokens >= self.settings.max_tokens_per_cluster_per_day:
            return "token_budget"
        return None

    async def diagnose(
        self, context: DiagnosisContext, upstream: Upstream, *, lang: Language, max_steps: int, unattended: bool = False
    ) -> Diagnosis:
        """Diagnose ``context``; a model or API failure gives an offline diagnosis instead of an exception."""
        if unattended and not self.settings.model_for_events:
            refusal: str | None = "events_offline"
        else:
            refusal = await self.budget_refusal(context.cluster)
        if refusal is None and self.client is not None:
            claude = ClaudeDiagnoser(self.client, self.settings, upstream)
            try:
                return await claude.diagnose(context, lang, max_steps)
            except LlmUnavailable as error:
                logger.warning(
                    "model diagnosis failed, using offline cluster=%s kind=%s reason=%s",
                    context.cluster,
                    context.kind,
                    error.reason,
                )
                return self._offline(context, lang, error.reason, error.steps, error.tokens)

        logger.info("offline diagnosis cluster=%s kind=%s reason=%s", context.cluster, context.kind, refusal)
        return self._offline(context, lang, refusal or "not_configured", [], 0)

    def _offline(self, context: DiagnosisContext, lang: Language, reason: str, steps: list, tokens: int) -> Diagnosis:
        diagnosis = self.offline.diagnose_now(context, lang)
        diagnosis.steps = [*steps, *diagnosis.steps]
        diagnosis.tokens_used = tokens
        diagnosis.fallback_reason = fallback_reason(reason, self.settings)
        return diagnosis
