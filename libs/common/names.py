"""Every NATS subject, stream, consumer, bucket and service name, in one place.

All names carry ``HFD_NATS_PREFIX`` so that several installations (or test runs) can share
one NATS server without seeing each other's messages.
"""

from dataclasses import dataclass

STREAM_SUBJECTS = {
    "LOGS": "logs.>",
    "METRICS": "metrics.>",
    "FAULTS": "faults.>",
    "DIAGNOSES": "diagnoses.>",
    "AUDIT": "audit.>",
}


@dataclass(frozen=True)
class Names:
    """Names under one prefix; ``Names("t1").subject("hfd.auth.login")`` is ``t1.hfd.auth.login``."""

    prefix: str = ""

    def subject(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def rpc(self, service: str, operation: str) -> str:
        return self.subject(f"hfd.{service}.{operation}")

    def stream(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    def stream_subjects(self, name: str) -> list[str]:
        return [self.subject(STREAM_SUBJECTS[name])]

    def service(self, service: str) -> str:
        return f"{self.prefix}-hfd-{service}" if self.prefix else f"hfd-{service}"

    def bucket(self, name: str) -> str:
        return f"{self.prefix}_hfd_{name}" if self.prefix else f"hfd_{name}"

    def durable(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    # Event subjects, built from ids that are validated to be subject-safe tokens.

    def logs(self, cluster: str, node: str, source: str) -> str:
        return self.subject(f"logs.{cluster}.{node}.{source}")

    def metrics(self, cluster: str, node: str) -> str:
        return self.subject(f"metrics.{cluster}.{node}")

    def faults(self, cluster: str, kind: str) -> str:
        return self.subject(f"faults.{cluster}.{kind}")

    def diagnoses(self, cluster: str) -> str:
        return self.subject(f"diagnoses.{cluster}")

    def audit(self, service: str) -> str:
        return self.subject(f"audit.{service}")

    # Core NATS subjects (not stored in a stream).

    def collector_state_changed(self) -> str:
        """Return the subject on which a collector replica publishes the nodes and samplers it changed."""
        return self.subject("hfd.collector.events.state_changed")


def subject_token(value: str) -> str:
    """Turn an id into one safe subject token: dots, wildcards and spaces become ``_``."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in value)
    return cleaned or "_"


def revoked_family_key(family_id: str) -> str:
    """Return the key in bucket ``revoked`` that marks a refresh-token family (the ``sid`` claim) as revoked.

    Family ids are UUIDs, so the key holds only letters, digits, ``-`` and one ``.``, all valid
    in a key-value key. Access-token ``jti`` keys are hex digits and never contain the dot.
    """
    return f"sid.{family_id}"
