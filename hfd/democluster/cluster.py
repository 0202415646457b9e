"""The demo cluster: SSH nodes on loopback addresses whose simulated daemons write Hadoop logs.

``DemoCluster`` is the API for the demo runner and the tests::

    async with DemoCluster(DemoClusterConfig(cluster_dir=tmp, nodes=3)) as cluster:
        manifest = cluster.manifest
        cluster.inject_fault("demo-dn1", "disk_full")
"""

import asyncio
import logging
import os
import random
import secrets
import time
from pathlib import Path

from pydantic import ValidationError

from hfd.democluster.config import DemoClusterConfig, node_addresses
from hfd.democluster.context import ClusterContext, NodeIdentity
from hfd.democluster.faults import SCENARIOS
from hfd.democluster.generator import NodeRuntime
from hfd.democluster.keys import known_hosts_line, load_or_create_key, public_key_text
from hfd.democluster.layout import ClusterLayout
from hfd.democluster.manifest import ClusterManifest, NodeManifest, load_manifest, write_manifest
from hfd.democluster.nodefiles import prepare_node
from hfd.democluster.nodes import NodeServer
from hfd.democluster.replay import ReplayRuntime
from hfd.democluster.replaysource import ReplayNodePlan, plan_replay

logger = logging.getLogger(__name__)


def generated_roles(count: int, prefix: str, secondary_namenode: bool) -> list[tuple[str, tuple[str, ...]]]:
    """Name the nodes of a generated cluster and give each its daemons.

    A single node runs all daemons, as a pseudo-distributed cluster does. With more nodes the
    first is the master (NameNode, ResourceManager, JobHistoryServer, optionally
    SecondaryNameNode) and the others are workers (DataNode and NodeManager).
    """
    if count == 1:
        daemons = ("namenode", "datanode", "resourcemanager", "nodemanager", "historyserver")
        if secondary_namenode:
            daemons += ("secondarynamenode",)
        return [(f"{prefix}-nn1", daemons)]

    master = ("namenode", "resourcemanager", "historyserver") + (("secondarynamenode",) if secondary_namenode else ())
    nodes = [(f"{prefix}-nn1", master)]
    nodes += [(f"{prefix}-dn{index}", ("datanode", "nodemanager")) for index in range(1, count)]
    return nodes


class DemoCluster:
    """Start, drive and stop a demo cluster."""

    def __init__(self, config: DemoClusterConfig | None = None) -> None:
        self.config = config or DemoClusterConfig()
        self.layout = ClusterLayout(self.config.cluster_dir.resolve())
        self.servers: dict[str, NodeServer] = {}
        self.runtimes: dict[str, NodeRuntime | ReplayRuntime] = {}
        self.ctx: ClusterContext | None = None
        self._manifest: ClusterManifest | None = None
        self._scheduler: asyncio.Task | None = None
        # Simulation randomness, not security: the seed makes a run repeatable.
        self._rng = random.Random(self.config.seed)  # noqa: S311

    def _child_rng(self) -> random.Random:
        """Return a generator seeded from the cluster's, so each node's traffic is repeatable on its own."""
        return random.Random(self._rng.getrandbits(64))  # noqa: S311

    @property
    def manifest(self) -> ClusterManifest:
        if self._manifest is None:
            raise RuntimeError("demo cluster not started; await start() first")
        return self._manifest

    async def __aenter__(self) -> "DemoCluster":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # Start and stop

    async def start(self) -> ClusterManifest:
        """Create the node folders and keys, bind the SSH servers, write the manifest and start
        the log generation. Raises ValueError on invalid settings, before binding anything."""
        if self.servers or self.runtimes:
            raise RuntimeError(f"demo cluster {self.config.name} already started; stop() it first")
        config = self.config
        replay_plans = self._replay_plans()
        if replay_plans is None:
            roles = generated_roles(config.nodes, config.name, config.secondary_namenode)
        else:
            roles = [(plan.name, tuple(plan.daemons)) for plan in replay_plans]
        addresses = node_addresses(config.first_address, len(roles))
        unknown = set(config.password_nodes) - {name for name, _ in roles}
        if unknown:
            raise ValueError(f"password nodes {sorted(unknown)} are not in the cluster; nodes: "
                             f"{[name for name, _ in roles]}")

        identities = [
            NodeIdentity(name, address, daemons)
            for (name, daemons), address in zip(roles, addresses, strict=True)
        ]
        self.ctx = ClusterContext(identities, config.hadoop_user, self._child_rng(),
                                  is_running=self._is_running, safemode_reason=self._safemode_reason)
        try:
            await self._start_nodes(identities, replay_plans)
        except BaseException:
            await self.stop()
            raise
        return self.manifest

    async def stop(self) -> None:
        """Stop the fault schedule, the log generation and the SSH servers, in that order."""
        await self.stop_writing()
        for server in self.servers.values():
            await server.stop()
        self.runtimes.clear()
        self.servers.clear()
        logger.info("demo cluster %s stopped", self.config.name)

    async def stop_writing(self) -> None:
        """Stop the fault schedule and the log generation but keep the SSH servers up.

        Running daemons write their shutdown records first. Afterwards the log files no longer
        change, so a collector can read them to the end.
        """
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
            self._scheduler = None
        for runtime in self.runtimes.values():
            await runtime.stop()

    def _replay_plans(self) -> list[ReplayNodePlan] | None:
        if self.config.logs_dir is None:
            return None
        # Cluster timestamp for container ids the replay has to make up, as YARN uses its start time.
        stamp = int(time.time() * 1000)
        return plan_replay(self.config.logs_dir.resolve(), self.config.hadoop_user, stamp)

    async def _start_nodes(self, identities: list[NodeIdentity], replay_plans: list[ReplayNodePlan] | None) -> None:
        config = self.config
        client_key = load_or_create_key(self.layout.client_key_path, f"hfd-collector@{config.name}")
        previous_ports = self._previous_ports()

        manifest_nodes = []
        for index, identity in enumerate(identities):
            node_layout = self.layout.node(identity.name)
            prepare_node(node_layout, identity, self.ctx, self.layout.root, config.hadoop_user,
                         self._child_rng())
            host_key = load_or_create_key(self.layout.host_key_path(identity.name), f"root@{identity.name}")
            password = self._password(identity.name) if identity.name in config.password_nodes else None

            server = NodeServer(node_layout, identity.address, config.ssh_user, host_key, client_key, password,
                                self._node_env(identity))
            self.servers[identity.name] = server
            port = await self._bind(server, index, previous_ports.get(identity.name))

            manifest_nodes.append(NodeManifest(
                name=identity.name, address=identity.address, port=port, ssh_user=config.ssh_user,
                private_key_path=self.layout.client_key_path, password=password,
                log_dirs=[node_layout.log_dir], roles=list(identity.daemons),
                host_public_key=public_key_text(host_key),
                known_hosts_line=known_hosts_line(identity.address, port, host_key),
                home=node_layout.home, temp_dir=node_layout.temp_dir,
            ))

        self._manifest = ClusterManifest(
            name=config.name, mode="generated" if replay_plans is None else "replay",
            hadoop_user=config.hadoop_user, cluster_dir=self.layout.root,
            known_hosts_path=self.layout.known_hosts_path, nodes=manifest_nodes,
        )
        write_manifest(self._manifest, self.layout.manifest_path)

        plans = {plan.name: plan for plan in replay_plans or []}
        for identity in identities:
            node_layout = self.layout.node(identity.name)
            if identity.name in plans:
                runtime = ReplayRuntime(identity, node_layout, config, plans[identity.name])
            else:
                runtime = NodeRuntime(identity, node_layout, config, self.ctx, self._child_rng())
            self.runtimes[identity.name] = runtime
            await runtime.start()

        if replay_plans is None and config.fault_interval > 0:
            self._scheduler = asyncio.create_task(self._schedule_faults(), name="demo-fault-schedule")
        logger.info("demo cluster %s started: %d nodes, manifest %s", config.name, len(identities),
                    self.layout.manifest_path)

    async def _bind(self, server: NodeServer, index: int, previous_port: int | None) -> int:
        if self.config.base_port is not None:
            port = self.config.base_port + index
            try:
                return await server.start(port)
            except OSError as error:
                raise OSError(f"failed to listen on {server.address}:{port} for node {server.name}: {error}; "
                              "choose another --base-port") from error
        if previous_port:
            try:
                return await server.start(previous_port)
            except OSError:
                logger.info("node %s: previous port %d is taken, picking a free one", server.name, previous_port)
        return await server.start(0)

    def _previous_ports(self) -> dict[str, int]:
        """Ports of the last run, reused when free so a registered cluster stays reachable."""
        try:
            previous = load_manifest(self.layout.manifest_path)
        except (FileNotFoundError, ValidationError, ValueError):
            return {}
        return {node.name: node.port for node in previous.nodes}

    def _password(self, node: str) -> str:
        """Return the node's password, created once and kept in the keys folder (mode 0600)."""
        path = self.layout.keys_dir / f"{node}_password"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(12)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        return password

    def _node_env(self, identity: NodeIdentity) -> dict[str, str]:
        node_layout = self.layout.node(identity.name)
        return {
            "HADOOP_HOME": str(node_layout.hadoop_home),
            "HADOOP_CONF_DIR": str(node_layout.conf_dir),
            "HADOOP_LOG_DIR": str(node_layout.log_dir),
            "YARN_LOG_DIR": str(node_layout.log_dir),
            "HADOOP_PID_DIR": str(node_layout.run_dir),
            "HADOOP_IDENT_STRING": self.config.hadoop_user,
        }

    # Status callbacks for the generators

    def _is_running(self, node: str, daemon: str) -> bool:
        runtime = self.runtimes.get(node)
        if isinstance(runtime, NodeRuntime):
            return runtime.running.get(daemon, False)
        return True

    def _safemode_reason(self) -> str | None:
        namenode = self.ctx.namenode if self.ctx else None
        runtime = self.runtimes.get(namenode.name) if namenode else None
        if isinstance(runtime, NodeRuntime) and runtime.running.get("namenode"):
            return runtime.safemode_reason
        return None

    # Faults and exact content

    def runtime(self, node: str) -> NodeRuntime | ReplayRuntime:
        try:
            return self.runtimes[node]
        except KeyError:
            raise KeyError(f"node {node!r} not in the demo cluster; nodes: {', '.join(self.runtimes)}") from None

    def inject_fault(self, node: str, scenario: str) -> dict:
        """Start a fault scenario on a node now and return the fault as stored in the node state.

        Raises KeyError for an unknown node or scenario, ValueError when the scenario cannot
        start there (daemon not run or stopped, already active, or a replay node)."""
        return self.runtime(node).inject(scenario)

    def append_lines(self, node: str, log_type: str, lines: list[str]) -> Path:
        """Append exact lines to a node's log (a daemon name, ``audit``, or a replayed file name)."""
        return self.runtime(node).append_lines(log_type, lines)

    def node_state(self, node: str) -> dict:
        return self.runtime(node).store.read()

    def log_path(self, node: str, log_type: str) -> Path:
        runtime = self.runtime(node)
        if isinstance(runtime, NodeRuntime):
            return runtime.writer(log_type).path
        return runtime.layout.log_dir / log_type

    async def _schedule_faults(self) -> None:
        rng = self._child_rng()
        while True:
            await asyncio.sleep(self.config.fault_interval * rng.uniform(0.7, 1.3))
            try:
                self._inject_scheduled_fault(rng)
            except (ValueError, KeyError, OSError):
                logger.exception("scheduled fault injection failed; the schedule continues")

    def _inject_scheduled_fault(self, rng: random.Random) -> None:
        active = sum(len(runtime.active_faults()) for runtime in self.runtimes.values())
        if active >= self.config.max_active_faults:
            logger.info("fault schedule: %d faults active, waiting for repairs", active)
            return

        candidates = [(name, scenario) for name, runtime in self.runtimes.items()
                      for scenario in runtime.applicable_scenarios()]
        if not candidates:
            logger.info("fault schedule: no scenario can start now")
            return
        weights = [SCENARIOS[scenario].weight for _, scenario in candidates]
        node, scenario = rng.choices(candidates, weights=weights)[0]
        self.inject_fault(node, scenario)
