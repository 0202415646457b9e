"""The diagnoser interface, the context a diagnosis starts from and the diagnosis it returns."""

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from libs.common.rpc import Principal

DiagnoserName = Literal["claude", "offline"]
Language = Literal["zh", "en"]


class Localized(BaseModel):
    """A text in Chinese (shown by default) and English."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class IncidentInfo(BaseModel):
    """The incident being diagnosed, as the faults service returns it."""

    incident_id: str
    cluster: str
    node: str
    kind: str
    severity: str = "error"
    status: str = "active"
    title_zh: str = ""
    title_en: str = ""
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    evidence: list[str] = Field(default_factory=list)
    source_files: list[str] = Field(default_factory=list)


class NodeRef(BaseModel):
    """A node as inventory resolves it."""

    node_uuid: str
    name: str
    cluster_uuid: str
    cluster_name: str
    address: str | None = None
    log_dirs: list[str] = Field(default_factory=list)


class ClusterNode(BaseModel):
    """A node of the incident's cluster with the roles (daemon names) that inventory stores for it."""

    name: str
    node_uuid: str
    address: str | None = None
    roles: list[str] = Field(default_factory=list, description="Empty when inventory records no roles.")


class DaemonCheck(BaseModel):
    """Whether ``jps`` on a node lists a daemon, checked before proposing to restart it there."""

    daemon: str
    node: str
    running: bool | None = Field(description="None when jps could not run or its output was not read.")
    detail: str = ""


class DiagnosisContext(BaseModel):
    """Everything a diagnoser may read: the incident, recent logs, metrics, related incidents."""

    cluster: str = Field(description="Cluster uuid or name as events and subjects carry it.")
    node: NodeRef | None = None
    incident: IncidentInfo | None = None
    recent_logs: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] | None = None
    related_incidents: list[dict[str, Any]] = Field(default_factory=list)
    keywords: str | None = None
    time_from: datetime | None = None
    principal: Principal | None = Field(
        default=None, description="Whose rights the tools run with; None for unattended work (the system)."
    )
    notes: list[Localized] = Field(default_factory=list, description="Gaps met while gathering the context.")
    cluster_nodes: list[ClusterNode] | None = Field(
        default=None, description="The cluster's nodes and roles; None when inventory could not be read."
    )
    daemon_checks: list[DaemonCheck] = Field(
        default_factory=list, description="jps on the nodes of daemons that a proposal would restart elsewhere."
    )

    @property
    def kind(self) -> str | None:
        return self.incident.kind if self.incident else None


class DiagnosisStep(BaseModel):
    """One step the diagnoser took, in the contract's ``steps`` shape."""

    action: str
    content: str
    result: str


class ProposedAction(BaseModel):
    """A playbook action the diagnoser proposes, with its validated parameters."""

    action_id: str = Field(description="Stable id within the kind's playbook, e.g. 'restart_daemon:datanode'.")
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    safe: bool
    title: Localized
    node: str | None = Field(default=None, description="Node the action runs on, or None for the incident's node.")
    node_note: Localized | None = Field(
        default=None, description="Why the action runs on that node, when it is not the plain choice."
    )


class Diagnosis(BaseModel):
    """Conclusion of a diagnoser, in both languages."""

    kind: str | None = None
    summary: Localized
    what_happened: Localized
    evidence: list[str] = Field(default_factory=list)
    why: Localized
    what_to_do: Localized
    steps: list[DiagnosisStep] = Field(default_factory=list)
    proposed_actions: list[ProposedAction] = Field(default_factory=list)
    diagnoser: DiagnoserName
    tokens_used: int = 0
    fallback_reason: Localized | None = Field(
        default=None, description="Reason the offline diagnoser was used in place of the model."
    )


class Diagnoser(Protocol):
    """Turns a context into a diagnosis."""

    name: DiagnoserName

    async def diagnose(self, context: DiagnosisContext, lang: Language, max_steps: int) -> Diagnosis: ...
