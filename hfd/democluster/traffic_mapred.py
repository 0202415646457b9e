"""Normal log traffic of the MapReduce JobHistoryServer.

The JobHistoryServer scans HDFS for the history files of finished jobs, moves them from the
intermediate folder to the done folder, and loads a job when a client requests it. The
messages follow those of Hadoop 3's ``JobHistory``, ``HistoryFileManager`` and
``CompletedJob`` classes in ``org.apache.hadoop.mapreduce.v2.hs``.
"""

from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote_plus

from hfd.democluster.context import JHS_PORT, NAMENODE_RPC_PORT
from hfd.democluster.records import Record
from hfd.democluster.traffic import TrafficModel
from hfd.democluster.traffic_yarn import JOB_NAMES

HISTORY_PACKAGE = "org.apache.hadoop.mapreduce.v2.hs"
HISTORY_FILES = f"{HISTORY_PACKAGE}.HistoryFileManager"
JOB_HISTORY = f"{HISTORY_PACKAGE}.JobHistory"
JOB_SUMMARY = "org.apache.hadoop.mapreduce.jobhistory.JobSummary"
# yarn.app.mapreduce.am.staging-dir of mapred-default.xml, an HDFS path.
STAGING_DIR = "/tmp/hadoop-yarn/staging"  # noqa: S108


class FinishedJob(NamedTuple):
    """A finished MapReduce job as its history files name it, with its finish time in epoch milliseconds."""

    job_id: str
    history_file: str
    summary: str
    finish_time: int


class JobHistoryServerTraffic(TrafficModel):
    """Scans, moves and loads of finished jobs' history files.

    NOTE: the traffic ignores the NameNode's state, although a real JobHistoryServer would
    log HDFS connection errors during its scans while HDFS is down.
    """

    daemon = "historyserver"
    # The server logs only when it finds or serves a finished job, so it writes less than the others.
    rate_factor = 0.3

    def startup_records(self) -> list[Record]:
        return [
            self.record("JobHistory Init", JOB_HISTORY),
            self.record("Initializing Existing Jobs...", HISTORY_FILES),
            self.record(f"Found {self.rng.randint(0, 3)} directories to load", HISTORY_FILES),
            self.record("Existing job initialization finished. 0.0% of cache is occupied.", HISTORY_FILES),
            self.record("CachedHistoryStorage Init", f"{HISTORY_PACKAGE}.CachedHistoryStorage"),
            self.record(
                f"Instantiated HistoryClientService at {self.node.name}/{self.node.address}:{JHS_PORT}",
                f"{HISTORY_PACKAGE}.HistoryClientService",
            ),
        ]

    def workflows(self):
        return [(3.0, self.scan), (1.0, self.move_finished_job), (1.0, self.load_job), (0.3, self.clean)]

    def scan(self) -> list[Record]:
        return [self.record("Starting scan to move intermediate done files", JOB_HISTORY)]

    def clean(self) -> list[Record]:
        return [
            self.record("History Cleaner started", JOB_HISTORY),
            self.record("History Cleaner complete", JOB_HISTORY),
        ]

    def move_finished_job(self) -> list[Record]:
        """Build the move of one finished job's files from the intermediate folder to the done folder."""
        job = self._finished_job()
        intermediate = f"{self._hdfs()}{STAGING_DIR}/history/done_intermediate/{self.ctx.user}"
        done = self._done_dir(job.finish_time)
        records = [
            self.record("Starting scan to move intermediate done files", JOB_HISTORY),
            self.record(job.summary, JOB_SUMMARY),
            self.record(f"Deleting JobSummary file: [{intermediate}/{job.job_id}.summary]", HISTORY_FILES),
        ]
        for name in (job.history_file, f"{job.job_id}_conf.xml"):
            records.append(self.record(f"Moving {intermediate}/{name} to {done}/{name}", HISTORY_FILES))
        return records

    def load_job(self) -> list[Record]:
        """Build the load of one finished job that a client opened in the web UI or requested over RPC."""
        job = self._finished_job()
        path = f"{self._done_dir(job.finish_time)}/{job.history_file}"
        return [
            self.record(f"Loading job: {job.job_id} from file: {path}", f"{HISTORY_PACKAGE}.CompletedJob"),
            self.record(f"Loading history file: [{path}]", f"{HISTORY_PACKAGE}.CompletedJob"),
        ]

    def _hdfs(self) -> str:
        namenode = self.ctx.namenode.name if self.ctx.namenode else "localhost"
        return f"hdfs://{namenode}:{NAMENODE_RPC_PORT}"

    def _done_dir(self, finish_time: int) -> str:
        # The done folder has one subfolder per finish day and per 1000 job numbers, and the demo's
        # job numbers stay below 1000.
        day = datetime.fromtimestamp(finish_time / 1000, UTC)
        return f"{self._hdfs()}{STAGING_DIR}/history/done/{day:%Y/%m/%d}/000000"

    def _finished_job(self) -> FinishedJob:
        rng = self.rng
        job = f"job_{self.ctx.cluster_timestamp}_{rng.randint(1, 60):04d}"
        submit = int(datetime.now(UTC).timestamp() * 1000) - rng.randint(60_000, 600_000)
        start = submit + rng.randint(2_000, 9_000)
        finish = start + rng.randint(20_000, 50_000)
        maps, reduces = rng.randint(1, 12), rng.randint(0, 4)
        name = rng.choice(JOB_NAMES)
        user = self.ctx.user
        # The file name encodes the job name as a URL and escapes the field separator "-".
        encoded = quote_plus(name).replace("-", "%2D")
        history_file = f"{job}-{submit}-{user}-{encoded}-{finish}-{maps}-{reduces}-SUCCEEDED-default-{start}.jhist"
        summary = (
            f"jobId={job},submitTime={submit},launchTime={start},finishTime={finish},numMaps={maps},"
            f"numReduces={reduces},user={user},queue=default,status=SUCCEEDED,jobName={name}"
        )
        return FinishedJob(job, history_file, summary, finish)
