"""Normal log traffic of the YARN daemons: ResourceManager and NodeManager."""

from hfd.democluster.context import NM_PORT, NM_WEB_PORT, RM_TRACKER_PORT, RM_WEB_PORT
from hfd.democluster.javatraces import (
    SAFE_MODE_MANUAL_TIP,
    SAFE_MODE_RESOURCES_TIP,
    retry_message,
    safe_mode_remote,
)
from hfd.democluster.records import Record
from hfd.democluster.traffic import TrafficModel

RM = "org.apache.hadoop.yarn.server.resourcemanager"
NM = "org.apache.hadoop.yarn.server.nodemanager"
RM_APP = f"{RM}.rmapp.RMAppImpl"
RM_CONTAINER = f"{RM}.rmcontainer.RMContainerImpl"
RM_AUDIT = f"{RM}.RMAuditLogger"
NM_AUDIT = f"{NM}.NMAuditLogger"
NM_CONTAINER = f"{NM}.containermanager.container.ContainerImpl"
NM_MONITOR = f"{NM}.containermanager.monitor.ContainersMonitorImpl"
JOB_NAMES = ("word count", "PageRank", "TeraSort", "hive-etl-daily", "QuasiMonteCarlo")


class ResourceManagerTraffic(TrafficModel):
    daemon = "resourcemanager"

    def startup_records(self) -> list[Record]:
        records = [self.record("Transitioned to active state")]
        for node in self.ctx.nodemanagers:
            records.append(self.record(
                f"NodeManager from node {node.name}(cmPort: {NM_PORT} httpPort: {NM_WEB_PORT}) registered with "
                f"capability: <memory:8192, vCores:8>, assigned nodeId {node.name}:{NM_PORT}",
                f"{RM}.ResourceTrackerService",
            ))
            records.append(self.record(f"{node.name}:{NM_PORT} Node Transitioned from NEW to RUNNING",
                                       f"{RM}.rmnode.RMNodeImpl"))
        return records

    def workflows(self):
        return [(1.0, self.application)]

    def app_state(self, application: str, old: str, new: str, event: str) -> Record:
        return self.record(f"{application} State change from {old} to {new} on event = {event}", RM_APP)

    def container_state(self, container: str, old: str, new: str) -> Record:
        return self.record(f"{container} Container Transitioned from {old} to {new}", RM_CONTAINER)

    def application(self) -> list[Record]:
        """Build one application's life: submission, AM container, task containers, finish."""
        rng = self.rng
        application = self.ctx.next_application()
        number = int(application.rsplit("_", 1)[1])
        # The scheduler places containers only on NodeManagers that are up.
        hosts = [node for node in self.ctx.nodemanagers if self.ctx.is_running(node.name, "nodemanager")]
        hosts = hosts or [self.node]
        client = self.node.address
        records = [
            self.record(f"Allocated new applicationId: {number}", f"{RM}.ClientRMService"),
            self.record(
                f"USER={self.ctx.user}\tIP={client}\tOPERATION=Submit Application Request\t"
                f"TARGET=ClientRMService\tRESULT=SUCCESS\tAPPID={application}\tQUEUENAME=default",
                RM_AUDIT,
            ),
            self.app_state(application, "NEW", "NEW_SAVING", "START"),
            self.app_state(application, "NEW_SAVING", "SUBMITTED", "APP_NEW_SAVED"),
            self.record(
                f"Application added - appId: {application} user: {self.ctx.user} leaf-queue of parent: root "
                f"#applications: {rng.randint(1, 4)}",
                f"{RM}.scheduler.capacity.ParentQueue",
            ),
            self.app_state(application, "SUBMITTED", "ACCEPTED", "APP_ACCEPTED"),
        ]

        for index in range(1, rng.randint(2, 5) + 1):
            container = self.ctx.container_id(application, 1, index)
            host = rng.choice(hosts)
            memory = 2048 if index == 1 else 1024
            records.append(self.container_state(container, "NEW", "ALLOCATED"))
            records.append(self.record(
                f"Assigned container {container} of capacity <memory:{memory}, vCores:1> on host "
                f"{host.name}:{NM_PORT}, which has {index} containers, <memory:{memory * index}, vCores:{index}> "
                f"used and <memory:{max(8192 - memory * index, 0)}, vCores:{8 - index}> available after allocation",
                f"{RM}.scheduler.SchedulerNode",
            ))
            records.append(self.container_state(container, "ALLOCATED", "ACQUIRED"))
            records.append(self.container_state(container, "ACQUIRED", "RUNNING"))
            if index == 1:
                records.append(self.app_state(application, "ACCEPTED", "RUNNING", "ATTEMPT_REGISTERED"))

        name = rng.choice(JOB_NAMES)
        resource_manager = self.node.name
        records += [
            self.app_state(application, "RUNNING", "FINAL_SAVING", "ATTEMPT_UNREGISTERED"),
            self.app_state(application, "FINAL_SAVING", "FINISHING", "APP_UPDATE_SAVED"),
            self.app_state(application, "FINISHING", "FINISHED", "ATTEMPT_FINISHED"),
            self.record(
                f"USER={self.ctx.user}\tOPERATION=Application Finished - Succeeded\tTARGET=RMAppManager\t"
                f"RESULT=SUCCESS\tAPPID={application}",
                RM_AUDIT,
            ),
            self.record(
                f"appId={application},name={name},user={self.ctx.user},queue=default,state=FINISHED,"
                f"trackingUrl=http://{resource_manager}:{RM_WEB_PORT}/proxy/{application}/,"
                f"appMasterHost={rng.choice(hosts).name},finalStatus=SUCCEEDED,applicationType=MAPREDUCE",
                f"{RM}.RMAppManager$ApplicationSummary",
            ),
        ]
        return records


class NodeManagerTraffic(TrafficModel):
    daemon = "nodemanager"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retry_attempt = 0
        self.container_number = 0

    def startup_records(self) -> list[Record]:
        updater = f"{NM}.NodeStatusUpdaterImpl"
        return [
            self.record(f"Registered with ResourceManager as {self.node.name}:{NM_PORT} with total resource of "
                        "<memory:8192, vCores:8>", updater),
            self.record("Notifying ContainerManager to unblock new container-requests", updater),
        ]

    def condition_records(self) -> list[Record] | None:
        if not self.ctx.resourcemanager_up():
            endpoint = self.ctx.resourcemanager_endpoint(RM_TRACKER_PORT)
            record = self.record(retry_message(endpoint, self.retry_attempt % 10), "org.apache.hadoop.ipc.Client")
            self.retry_attempt += 1
            return [record]

        self.retry_attempt = 0
        reason = self.ctx.safemode_reason()
        if reason is not None and self.rng.random() < 0.3:
            return [self.log_aggregation_failure(reason)]
        return None

    def log_aggregation_failure(self, reason: str) -> Record:
        application = f"application_{self.ctx.cluster_timestamp}_{self.rng.randint(1, 9999):04d}"
        tip = SAFE_MODE_RESOURCES_TIP if reason == "resources" else SAFE_MODE_MANUAL_TIP
        # The HDFS folder of YARN log aggregation (yarn.nodemanager.remote-app-log-dir).
        stack = safe_mode_remote(f"/tmp/logs/{self.ctx.user}/logs/{application}", tip)  # noqa: S108
        return self.record(
            f"Failed to setup application log directory for {application}",
            f"{NM}.containermanager.logaggregation.LogAggregationService",
            level="WARN",
            detail=stack,
        )

    def workflows(self):
        return [(1.0, self.container)]

    def container_state(self, container: str, old: str, new: str) -> Record:
        return self.record(f"Container {container} transitioned from {old} to {new}", NM_CONTAINER)

    def container(self) -> list[Record]:
        """Build one container's life on this node, from start request to resource-monitoring stop."""
        rng = self.rng
        application = f"application_{self.ctx.cluster_timestamp}_{rng.randint(1, 60):04d}"
        self.container_number += 1
        container = self.ctx.container_id(application, 1, self.container_number)
        manager = self.ctx.resourcemanager.address if self.ctx.resourcemanager else self.node.address
        user = self.ctx.user
        rss = rng.uniform(120, 900)
        pid = rng.randint(2000, 60000)
        return [
            self.record(f"Start request for {container} by user {user}", f"{NM}.containermanager.ContainerManagerImpl"),
            self.record(
                f"USER={user}\tIP={manager}\tOPERATION=Start Container Request\tTARGET=ContainerManageImpl\t"
                f"RESULT=SUCCESS\tAPPID={application}\tCONTAINERID={container}",
                NM_AUDIT,
            ),
            self.container_state(container, "NEW", "LOCALIZING"),
            self.container_state(container, "LOCALIZING", "SCHEDULED"),
            self.container_state(container, "SCHEDULED", "RUNNING"),
            self.record(f"Starting resource-monitoring for {container}", NM_MONITOR),
            self.record(
                f"Memory usage of ProcessTree {pid} for container-id {container}: {rss:.1f} MB of 1 GB physical "
                f"memory used; {rng.uniform(1.6, 2.0):.1f} GB of 2.1 GB virtual memory used",
                NM_MONITOR,
            ),
            self.record(f"Container {container} succeeded ", f"{NM}.containermanager.launcher.ContainerLaunch"),
            self.container_state(container, "RUNNING", "EXITED_WITH_SUCCESS"),
            self.record(
                f"USER={user}\tOPERATION=Container Finished - Succeeded\tTARGET=ContainerImpl\t"
                f"RESULT=SUCCESS\tAPPID={application}\tCONTAINERID={container}",
                NM_AUDIT,
            ),
            self.container_state(container, "EXITED_WITH_SUCCESS", "DONE"),
            self.record(f"Stopping resource-monitoring for {container}", NM_MONITOR),
        ]
