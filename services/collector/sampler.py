"""Metric sampling of one node: CPU, memory, load and log disk usage in one SSH command.

The command reads the first line of ``/proc/stat`` twice, one second apart (CPU busy percent
is the busy share of the jiffies in between), then ``/proc/meminfo``, ``/proc/loadavg`` and
``df -P`` of the first log folder. The script is a constant; the folder is passed to it as a
positional argument, so it is never parsed as shell text.
"""

import logging

from libs.common.events import MetricSample
from libs.common.timeutil import utcnow
from services.collector.ssh import SshPool

logger = logging.getLogger(__name__)

SAMPLE_TIMEOUT = 20.0
_SCRIPT = (
    "head -n 1 /proc/stat; sleep 1; head -n 1 /proc/stat; echo @meminfo; cat /proc/meminfo; "
    'echo @loadavg; cat /proc/loadavg; echo @df; df -P -k -- "$1"'
)


class SampleError(Exception):
    """The node's output could not be turned into a sample."""


def sample_argv(log_dir: str) -> list[str]:
    return ["sh", "-c", _SCRIPT, "hfd-sample", log_dir or "/"]


async def take_sample(pool: SshPool, node_uuid: str, log_dir: str) -> MetricSample:
    """Run the sampling command on the node and parse its output into a ``MetricSample``."""
    target = pool.node(node_uuid)
    if target is None:
        raise SampleError(f"unknown node {node_uuid}")
    sampled_at = utcnow()
    result = await pool.run(node_uuid, sample_argv(log_dir), timeout=SAMPLE_TIMEOUT, max_output=65536)
    if result.timed_out:
        raise SampleError("sampling command timed out")
    return parse_sample(result.stdout, cluster=target.cluster_uuid, node=target.name, sampled_at=sampled_at)


def parse_sample(output: str, *, cluster: str, node: str, sampled_at) -> MetricSample:
    sections = _sections(output)
    cpu_lines = [line for line in sections.get("", []) if line.startswith("cpu ")]
    if len(cpu_lines) < 2:
        raise SampleError("missing /proc/stat readings")

    memory = _meminfo(sections.get("meminfo", []))
    total = memory.get("MemTotal")
    available = memory.get("MemAvailable", memory.get("MemFree"))
    disk_percent, disk_total = _df(sections.get("df", []))
    return MetricSample(
        cluster=cluster,
        node=node,
        sampled_at=sampled_at,
        cpu_percent=_cpu_busy(cpu_lines[0], cpu_lines[1]),
        memory_percent=round(100.0 * (total - available) / total, 2) if total and available is not None else None,
        memory_total_bytes=total * 1024 if total else None,
        disk_percent=disk_percent,
        disk_total_bytes=disk_total,
        load1=_load1(sections.get("loadavg", [])),
    )


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in output.splitlines():
        if line.startswith("@"):
            current = line[1:].strip()
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def _cpu_busy(first: str, second: str) -> float | None:
    before = [int(value) for value in first.split()[1:]]
    after = [int(value) for value in second.split()[1:]]
    deltas = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(deltas)
    if total <= 0:
        return None
    # Fields: user nice system idle iowait irq softirq steal ...; idle and iowait are not busy.
    idle = deltas[3] + (deltas[4] if len(deltas) > 4 else 0)
    return round(100.0 * (total - idle) / total, 2)


def _meminfo(lines: list[str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[name.strip()] = int(fields[0])  # kB
    return values


def _df(lines: list[str]) -> tuple[float | None, int | None]:
    # POSIX format: Filesystem 1024-blocks Used Available Capacity Mounted-on
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[1].isdigit() and fields[2].isdigit() and fields[3].isdigit():
            total_kb, used_kb, available_kb = int(fields[1]), int(fields[2]), int(fields[3])
            usable = used_kb + available_kb
            percent = round(100.0 * used_kb / usable, 2) if usable else None
            return percent, total_kb * 1024
    return None, None


def _load1(lines: list[str]) -> float | None:
    try:
        return float(lines[0].split()[0])
    except (IndexError, ValueError):
        return None
