"""Facts pulled out of evidence lines: the address, host, port and path a fault is about."""

import re

from pydantic import BaseModel

# host:port as Hadoop prints it: "Master:9000", "localhost/127.0.0.1:9000", "[0.0.0.0:8031]".
_ADDRESS_RE = re.compile(
    r"(?<![\w.:/-])(?P<host>[A-Za-z0-9][A-Za-z0-9.\-]*(?:/\d{1,3}(?:\.\d{1,3}){3})?):(?P<port>\d{2,5})\b"
)
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PORT_RE = re.compile(r"\b[Pp]ort(?: in use)?[:=\s]+(?:[\w.\-]+:)?(?P<port>\d{2,5})\b")
_UNKNOWN_HOST_RE = re.compile(r"UnknownHostException:\s*(?P<host>[A-Za-z0-9][A-Za-z0-9.\-_]*)")
_UNRESOLVED_RE = re.compile(r"[Uu]nresolved address[^A-Za-z0-9]*(?P<host>[A-Za-z0-9][A-Za-z0-9.\-_]*)")
_PATH_RE = re.compile(r"(?<![\w:/])(?P<path>/(?:[\w.\-@]+/)*[\w.\-@]+)")
_WINDOWS_PATH_RE = re.compile(r"(?P<path>\b[A-Za-z]:[\\/][^\s:'\"]+)")
_IGNORED_PATH_PREFIXES = ("/proc/", "/dev/null")
# Stack frames print "DataNode.java:1173", which looks like host:port.
_SOURCE_SUFFIXES = (".java", ".scala", ".kt", ".groovy")

# Facts that each kind's explanation uses; kinds not listed show every fact that was found.
KIND_FACTS: dict[str, tuple[str, ...]] = {
    "port_in_use": ("address", "port"),
    "host_resolution_failure": ("host", "address"),
    "namenode_unreachable": ("address", "host", "port"),
    "resourcemanager_unreachable": ("address", "host", "port"),
    "network_unreachable": ("address", "host"),
    "disk_full": ("path",),
    "disk_failure": ("path",),
    "storage_locked": ("path",),
    "storage_not_formatted": ("path",),
    "cluster_id_mismatch": ("path",),
    "metadata_load_failure": ("path",),
    "permission_denied": ("path",),
    "config_error": ("path",),
}


class EvidenceFacts(BaseModel):
    """The first address, host, port and path found in the evidence, each with its line."""

    address: str | None = None
    host: str | None = None
    port: str | None = None
    path: str | None = None
    line: str | None = None

    def selected(self, kind: str | None) -> dict[str, str]:
        """Return the facts that explain ``kind``, skipping those not found."""
        wanted = KIND_FACTS.get(kind or "", ("address", "host", "port", "path"))
        values = {name: getattr(self, name) for name in wanted}
        return {name: value for name, value in values.items() if value}


def _first(pattern: re.Pattern[str], lines: list[str], group: str) -> str | None:
    for line in lines:
        match = pattern.search(line)
        if match:
            return match.group(group)
    return None


def _first_address(lines: list[str]) -> re.Match[str] | None:
    for line in lines:
        for match in _ADDRESS_RE.finditer(line):
            host = match.group("host")
            if host.endswith(_SOURCE_SUFFIXES):
                continue
            # A timestamp such as 08:44:04 also looks like host:port; a host has a letter or is an IPv4 address.
            if re.search(r"[A-Za-z]", host) or _IPV4_RE.fullmatch(host):
                return match
    return None


def _first_path(lines: list[str]) -> str | None:
    for line in lines:
        for match in _PATH_RE.finditer(line):
            path = match.group("path")
            if path.count("/") >= 2 and not path.startswith(_IGNORED_PATH_PREFIXES):
                return path
        windows = _WINDOWS_PATH_RE.search(line)
        if windows:
            return windows.group("path")
    return None


def extract_facts(lines: list[str]) -> EvidenceFacts:
    """Find the address, host, port and path the evidence lines mention first."""
    facts = EvidenceFacts(line=lines[0] if lines else None)
    address = _first_address(lines)
    if address is not None:
        facts.address = address.group(0)
        facts.host = address.group("host").split("/")[0]
        facts.port = address.group("port")

    facts.host = _first(_UNKNOWN_HOST_RE, lines, "host") or _first(_UNRESOLVED_RE, lines, "host") or facts.host
    facts.port = facts.port or _first(_PORT_RE, lines, "port")
    facts.path = _first_path(lines)
    return facts


def evidence_hosts(lines: list[str]) -> set[str]:
    """Return every host name and IPv4 address that the lines print as host:port or host/ip:port."""
    hosts: set[str] = set()
    for line in lines:
        for match in _ADDRESS_RE.finditer(line):
            host = match.group("host")
            if host.endswith(_SOURCE_SUFFIXES):
                continue
            hosts.update(part for part in host.split("/") if part)
    return hosts
