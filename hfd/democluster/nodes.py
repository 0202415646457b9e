"""SSH server of one demo node, bound to its own loopback address.

Exec requests run ``/bin/sh -c COMMAND`` in the node's home folder, with a small environment
whose PATH starts with the node's simulated Hadoop ``bin`` folder. Standard output and standard
error are copied to the channel chunk by chunk with flow control (``drain``), so large outputs
stream and a slow client never makes the child block forever on a full pipe buffer. The exit
status, or the terminating signal, is returned as OpenSSH's sshd returns it.
SFTP is served without a chroot: clients see the real absolute paths, and relative paths start
in the node's home folder as they would with OpenSSH.
"""

import asyncio
import hmac
import logging
import os
import signal
from pathlib import Path

import asyncssh

from hfd.democluster.config import require_loopback
from hfd.democluster.layout import NodeLayout

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# Environment variables a client may set on an exec channel, like OpenSSH's default AcceptEnv.
ACCEPTED_CLIENT_ENV_PREFIXES = ("LANG", "LC_")
KILL_GRACE_SECONDS = 2.0


class HomeSFTPServer(asyncssh.SFTPServer):
    """SFTP without a chroot whose relative paths start in the node's home folder."""

    def __init__(self, chan: asyncssh.SSHServerChannel, home: Path) -> None:
        super().__init__(chan)
        self._home = os.fsencode(home)

    def map_path(self, path: bytes) -> bytes:
        if path.startswith(b"/"):
            return path
        return os.path.join(self._home, path)


class _NodeSSHServer(asyncssh.SSHServer):
    """Authentication and connection bookkeeping for one node."""

    def __init__(self, node: "NodeServer") -> None:
        self._node = node
        self._conn: asyncssh.SSHServerConnection | None = None
        self._peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self._peer = f"{peer[0]}:{peer[1]}"
        self._node.connections.add(conn)
        logger.debug("node %s: connection from %s", self._node.name, self._peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._node.connections.discard(self._conn)
        if exc is not None:
            logger.info("node %s: connection from %s lost: %s", self._node.name, self._peer, exc)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        accepted = username == self._node.user and key.public_data == self._node.client_key.public_data
        if not accepted:
            logger.info("node %s: public key rejected for user %s from %s", self._node.name, username, self._peer)
        return accepted

    def password_auth_supported(self) -> bool:
        return self._node.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._node.password or ""
        accepted = username == self._node.user and hmac.compare_digest(password.encode(), expected.encode())
        if not accepted:
            logger.info("node %s: password rejected for user %s from %s", self._node.name, username, self._peer)
        return accepted


class NodeServer:
    """The SSH server of one node."""

    def __init__(
        self,
        layout: NodeLayout,
        address: str,
        user: str,
        host_key: asyncssh.SSHKey,
        client_key: asyncssh.SSHKey,
        password: str | None = None,
        node_env: dict[str, str] | None = None,
    ) -> None:
        require_loopback(address)
        self.layout = layout
        self.name = layout.name
        self.address = address
        self.user = user
        self.host_key = host_key
        self.client_key = client_key
        self.password = password
        self.node_env = node_env or {}
        self.port: int | None = None
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._children: set[asyncio.subprocess.Process] = set()
        # Set by stop(): an exec request still queued on a closing connection then runs nothing.
        self._stopped = False

    async def start(self, port: int = 0) -> int:
        """Listen on ``address:port`` (0 picks a free port); returns the bound port."""
        require_loopback(self.address)
        self._stopped = False
        self._acceptor = await asyncssh.create_server(
            lambda: _NodeSSHServer(self),
            self.address,
            port,
            server_host_keys=[self.host_key],
            process_factory=self._handle_process,
            sftp_factory=lambda chan: HomeSFTPServer(chan, self.layout.home),
            allow_scp=True,
            encoding=None,
            line_editor=False,
            login_timeout=30,
        )
        self.port = self._acceptor.get_port()
        logger.info("node %s: SSH listening on %s:%d", self.name, self.address, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening, close every connection and end the commands still running."""
        self._stopped = True
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self.connections):
            conn.close()
        for child in list(self._children):
            await _terminate_group(child)
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
            self._acceptor = None
        logger.info("node %s: SSH stopped", self.name)

    def exec_environment(self, process: asyncssh.SSHServerProcess) -> dict[str, str]:
        """Build the environment of an exec request: no variables of this process leak in
        except PATH, which follows the node's bin folder."""
        peer = process.get_extra_info("peername") or ("127.0.0.1", 0)
        env = {
            "HOME": str(self.layout.home),
            "PWD": str(self.layout.home),
            "USER": self.user,
            "LOGNAME": self.user,
            "SHELL": "/bin/sh",
            "LANG": "C.UTF-8",
            "PATH": f"{self.layout.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "SSH_CONNECTION": f"{peer[0]} {peer[1]} {self.address} {self.port}",
            "SSH_CLIENT": f"{peer[0]} {peer[1]} {self.port}",
            **self.node_env,
        }
        for key, value in process.env.items():
            if isinstance(key, str) and key.startswith(ACCEPTED_CLIENT_ENV_PREFIXES):
                env[key] = value
        if process.term_type:
            env["TERM"] = process.term_type
        return env

    async def _handle_process(self, process: asyncssh.SSHServerProcess) -> None:
        if process.subsystem is not None:
            process.stderr.write(f"subsystem {process.subsystem} is not supported\n".encode())
            process.exit(1)
            return

        command = process.command
        if self._stopped:
            logger.info("node %s: exec rejected because the node is stopping: %r", self.name, command)
            process.exit(255)
            return

        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh"]
        # Tests of the collector and the AI service read this record as the node's command
        # history, so keep its message and arguments.
        logger.debug("node %s: exec %r", self.name, command)
        try:
            child = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.layout.home,
                env=self.exec_environment(process),
                start_new_session=True,
            )
        except OSError as error:
            logger.warning("node %s: failed to start /bin/sh for %r: %s", self.name, command, error)
            process.stderr.write(f"sh: {error}\n".encode())
            process.exit(127)
            return

        self._children.add(child)
        if self._stopped:  # stop() ran while the child started, so it did not see this child
            await _terminate_group(child)
        try:
            returncode = await self._run_child(process, child)
        finally:
            self._children.discard(child)
            if child.returncode is None:
                await _terminate_group(child)

        if returncode is None:
            return
        if returncode < 0:
            process.exit_with_signal(signal.Signals(-returncode).name.removeprefix("SIG"))
        else:
            process.exit(returncode)

    async def _run_child(self, process: asyncssh.SSHServerProcess, child: asyncio.subprocess.Process) -> int | None:
        """Copy data between the channel and the child until the child's output ends; returns
        its exit code, or None when the client went away first."""
        feeder = asyncio.create_task(_copy_stdin(process.stdin, child))
        outputs = asyncio.gather(_copy_output(child.stdout, process.stdout),
                                 _copy_output(child.stderr, process.stderr))
        try:
            delivered = await outputs
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

        if not all(delivered):
            logger.info("node %s: client closed the channel before the command ended", self.name)
            return None
        return await child.wait()


async def _copy_output(source: asyncio.StreamReader, channel: asyncssh.SSHWriter) -> bool:
    """Copy one output pipe to the channel; returns False when the channel closed first."""
    try:
        while chunk := await source.read(CHUNK_BYTES):
            channel.write(chunk)
            await channel.drain()
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        return False
    return True


async def _copy_stdin(channel: asyncssh.SSHReader, child: asyncio.subprocess.Process) -> None:
    """Copy the channel's input to the child; forwards signals the client sends."""
    stdin = child.stdin
    try:
        while True:
            try:
                chunk = await channel.read(CHUNK_BYTES)
            except asyncssh.SignalReceived as received:
                _signal_group(child, received.signal)
                continue
            except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                continue
            if not chunk:
                break
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionError):
        pass
    finally:
        stdin.close()


def _signal_group(child: asyncio.subprocess.Process, name: str) -> None:
    number = getattr(signal, f"SIG{name}", None)
    if number is None:
        logger.info("ignoring unknown signal %r from client", name)
        return
    try:
        os.killpg(child.pid, number)
    except ProcessLookupError:
        pass


async def _terminate_group(child: asyncio.subprocess.Process) -> None:
    """Send SIGTERM to the child's process group, then SIGKILL after a grace period."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, number)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(child.wait(), KILL_GRACE_SECONDS)
            return
        except TimeoutError:
            continue
