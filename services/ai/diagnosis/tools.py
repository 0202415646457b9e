"""Read-only tools the model may call, each with a typed input model and a guarded runner.

Every tool reaches a node only through another service: logs through the collector's
``logs.tail``, diagnostics through the collector's ``commands.run`` (and so through its
command policy and exec log), metrics through inventory, incidents through faults. The
principal of the requesting user (or the system principal) goes with each call, so the
callee applies that principal's rights.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.common.errors import ServiceError
from libs.common.rpc import Principal
from services.ai.playbook import DIAGNOSTIC_LABELS
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

TRUNCATION_MARK = "[truncated]"
NODE_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252}[A-Za-z0-9])?$"
LOG_TYPE_PATTERN = r"^[a-z][a-z0-9_-]{0,40}$"
DiagnosticCommand = Literal["hdfs_report", "safemode_get", "yarn_nodes", "jps", "df", "free"]


class _ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadLogInput(_ToolInput):
    """Read the last lines of a node's newest log file of one type."""

    node: str = Field(pattern=NODE_NAME_PATTERN, description="Host name of the node.")
    log_type: str = Field(
        default="datanode", pattern=LOG_TYPE_PATTERN, description="Log type, e.g. namenode, datanode, nodemanager."
    )
    lines: int = Field(default=100, ge=1, le=500, description="How many of the last lines to read.")


class SearchLogInput(ReadLogInput):
    """Search the last lines of a node's log for a regular expression."""

    pattern: str = Field(min_length=1, max_length=200, description="Python regular expression to match lines.")


class ReadMetricsInput(_ToolInput):
    """Read the latest CPU, memory and disk usage of the cluster's nodes."""

    node: str | None = Field(default=None, pattern=NODE_NAME_PATTERN, description="Only this node, when set.")


class ListIncidentsInput(_ToolInput):
    """List recent incidents of the cluster."""

    node: str | None = Field(default=None, pattern=NODE_NAME_PATTERN, description="Only this node, when set.")
    status: Literal["active", "acknowledged", "resolved"] | None = None


class RunDiagnosticInput(_ToolInput):
    """Run one read-only diagnostic command on a node."""

    node: str = Field(pattern=NODE_NAME_PATTERN, description="Host name of the node.")
    command: DiagnosticCommand = Field(
        description="; ".join(f"{command_id}: {label}" for command_id, label in DIAGNOSTIC_LABELS.items())
    )


class ToolOutcome(BaseModel):
    """Result of one tool call, as sent to the model."""

    status: Literal["ok", "error"]
    text: str

    @classmethod
    def error(cls, text: str) -> "ToolOutcome":
        return cls(status="error", text=f"ERROR: {text}")


def bound_text(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with ``[truncated]``."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATION_MARK) - 1)] + "\n" + TRUNCATION_MARK


class ToolBox:
    """The model's tools for one conversation or diagnosis, bound to a principal and a cluster."""

    DESCRIPTIONS = {
        "read_log": "Read the last lines of a node's newest log file of the given type.",
        "search_log": "Return the lines of a node's recent log that match a regular expression.",
        "read_metrics": "Return the latest CPU, memory and disk usage of the cluster's nodes.",
        "list_incidents": "List recent incidents (detected faults) of the cluster.",
        "run_diagnostic": "Run one read-only diagnostic command on a node and return its output.",
    }
    INPUTS: dict[str, type[_ToolInput]] = {
        "read_log": ReadLogInput,
        "search_log": SearchLogInput,
        "read_metrics": ReadMetricsInput,
        "list_incidents": ListIncidentsInput,
        "run_diagnostic": RunDiagnosticInput,
    }

    def __init__(
        self,
        upstream: Upstream,
        principal: Principal | None,
        cluster: str | None,
        *,
        output_limit: int,
        command_timeout: int,
        fault_id: str | None = None,
    ) -> None:
        self.upstream = upstream
        self.principal = principal
        self.cluster = cluster
        self.output_limit = output_limit
        self.command_timeout = command_timeout
        self.fault_id = fault_id
        self._nodes: dict[str, dict[str, Any]] = {}
        self._runners: dict[str, Callable[[Any], Awaitable[str]]] = {
            "read_log": self._read_log,
            "search_log": self._search_log,
            "read_metrics": self._read_metrics,
            "list_incidents": self._list_incidents,
            "run_diagnostic": self._run_diagnostic,
        }

    def definitions(self) -> list[dict[str, Any]]:
        """Return the tools in the Messages API's shape, with JSON schemas from the input models."""
        return [
            {"name": name, "description": self.DESCRIPTIONS[name], "input_schema": model.model_json_schema()}
            for name, model in self.INPUTS.items()
        ]

    async def call(self, name: str, raw_input: Any) -> ToolOutcome:
        """Validate and run one tool call; every failure becomes an error result, never an exception."""
        model = self.INPUTS.get(name)
        if model is None:
            return ToolOutcome.error(f"unknown tool {name!r}; the tools are {sorted(self.INPUTS)}")
        try:
            arguments = model.model_validate(raw_input if isinstance(raw_input, dict) else {})
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
            return ToolOutcome.error(f"invalid input for {name}: {problems}")

        try:
            text = await self._runners[name](arguments)
        except ServiceError as error:
            logger.info("tool call rejected tool=%s cluster=%s code=%s", name, self.cluster, error.code)
            return ToolOutcome.error(f"{name} was rejected: {error.code}")
        return ToolOutcome(status="ok", text=bound_text(text, self.output_limit))

    async def _node(self, name: str) -> dict[str, Any]:
        if name not in self._nodes:
            self._nodes[name] = await self.upstream.resolve_node(self.principal, name, self.cluster)
        return self._nodes[name]

    async def _read_log(self, arguments: ReadLogInput) -> str:
        node = await self._node(arguments.node)
        lines = await self.upstream.tail_log(
            self.principal, node["node_uuid"], lines=arguments.lines, log_type=arguments.log_type
        )
        return "\n".join(lines) or "(no lines)"

    async def _search_log(self, arguments: SearchLogInput) -> str:
        node = await self._node(arguments.node)
        lines = await self.upstream.tail_log(
            self.principal,
            node["node_uuid"],
            lines=arguments.lines,
            log_type=arguments.log_type,
            pattern=arguments.pattern,
        )
        return "\n".join(lines) or "(no matching lines)"

    async def _read_metrics(self, arguments: ReadMetricsInput) -> str:
        nodes = await self.upstream.list_nodes(self.principal, self.cluster)
        wanted = [node for node in nodes if arguments.node is None or node.get("name") == arguments.node]
        fields = ("name", "status", "cpu_percent", "memory_percent", "disk_percent", "last_heartbeat")
        rows = [{key: node.get(key) for key in fields if key in node} for node in wanted]
        return json.dumps(rows, ensure_ascii=False, default=str) if rows else "(no such node)"

    async def _list_incidents(self, arguments: ListIncidentsInput) -> str:
        items = await self.upstream.list_incidents(
            self.principal, cluster=self.cluster, node=arguments.node, state=arguments.status
        )
        fields = ("incident_id", "kind", "node", "status", "severity", "count", "first_seen", "last_seen", "title_en")
        items = [{key: item.get(key) for key in fields} for item in items]
        return json.dumps(items, ensure_ascii=False, default=str) if items else "(no incidents)"

    async def _run_diagnostic(self, arguments: RunDiagnosticInput) -> str:
        node = await self._node(arguments.node)
        result = await self.upstream.run_command(
            self.principal,
            node["node_uuid"],
            arguments.command,
            timeout=self.command_timeout,
            description=f"diagnosis: {DIAGNOSTIC_LABELS[arguments.command]}",
            fault_id=self.fault_id,
        )
        text = f"exit_code={result.get('exit_code')} status={result.get('status')}\n{result.get('stdout', '')}"
        if result.get("stderr"):
            text += f"\nstderr:\n{result['stderr']}"
        if result.get("truncated"):
            text += f"\n{TRUNCATION_MARK}"
        return text
