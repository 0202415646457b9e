"""OpenSSH sshd servers on loopback for the collector tests, each in its own temp folder."""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hfd.embedded import free_port, port_open

SSHD_BINARY = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return Path(SSHD_BINARY).exists() and shutil.which("ssh-keygen") is not None


def generate_key(path: Path, kind: str = "ed25519") -> str:
    """Create a key pair at ``path`` and ``path.pub``; return the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class SshdNode:
    """One sshd on ``address:port`` that accepts ``client_key`` for the current user."""

    folder: Path
    address: str
    port: int
    user: str
    client_private_key: str
    host_public_key: str
    process: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / "sshd_config"

    def start(self, timeout: float = 10.0) -> "SshdNode":
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "sshd.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [SSHD_BINARY, "-D", "-e", "-f", str(self.config_path)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.address, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.folder / 'sshd.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"sshd did not listen on {self.address}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the listener and the connection processes it forked, as a node going down would."""
        if self.process is not None and self.process.poll() is None:
            for pid in _descendants(self.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _descendants(pid: int) -> list[int]:
    """Return the process ids below ``pid``, read from /proc (sshd children call setsid)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            pending.append(int(child))
    return found


def make_sshd_node(folder: Path, address: str, *, client_key_path: Path | None = None) -> SshdNode:
    """Write host and client keys and an sshd_config for ``address`` under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "ssh_host_ed25519_key"
    host_public = generate_key(host_key)

    if client_key_path is None:
        client_key_path = folder / "client_ed25519"
        generate_key(client_key_path)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{client_key_path}.pub").read_text())

    port = free_port(address)
    config = "\n".join(
        [
            f"ListenAddress {address}",
            f"Port {port}",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            f"PidFile {folder / 'sshd.pid'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin yes",
            "StrictModes no",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
            "MaxSessions 64",
            "MaxStartups 100:30:200",
            "LogLevel ERROR",
            # Bash skips ~/.bashrc for SSH commands when SHLVL is already set, so the tests do not
            # depend on root's shell start-up files (which may be slow or take locks).
            "SetEnv SHLVL=1",
            "",
        ]
    )
    (folder / "sshd_config").write_text(config)
    os.chmod(host_key, 0o600)

    return SshdNode(
        folder=folder,
        address=address,
        port=port,
        user=os.environ.get("USER") or "root",
        client_private_key=client_key_path.read_text(),
        host_public_key=host_public,
    )
