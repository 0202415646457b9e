"""The demo's API client: log in, register the demo cluster, read what the view shows."""

import logging
from pathlib import Path

import httpx

from hfd.democluster.manifest import load_manifest

logger = logging.getLogger("hfd.demo")


class DemoApi:
    """A small synchronous client of the gateway that logs in again when its token expires."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=15)
        self.username = username
        self.password = password
        self.token = ""

    def login(self) -> None:
        response = self.client.post("/user/login", json={"username": self.username, "password": self.password})
        response.raise_for_status()
        self.token = response.json()["token"]

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        if not self.token:
            self.login()
        response = self.client.request(method, path, headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        if response.status_code == 401:
            self.login()
            response = self.client.request(method, path, headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        return response

    def get_json(self, path: str, **params) -> dict:
        response = self.request("GET", path, params=params)
        response.raise_for_status()
        return response.json()


def register_cluster(api: DemoApi, manifest_path: Path, name: str) -> str:
    """Register the demo cluster (with policy ``auto``) unless it already is; return its uuid."""
    for cluster in api.get_json("/clusters")["clusters"]:
        if cluster.get("name") == name:
            logger.info("demo cluster already registered cluster=%s", cluster["uuid"])
            return cluster["uuid"]

    manifest = load_manifest(manifest_path)
    private_key = Path(manifest.nodes[0].private_key_path).read_text()
    master = manifest.nodes[0]
    body = {
        "name": name,
        "type": "hadoop",
        "description": "demo cluster on loopback",
        "host": master.name,
        "ip": master.address,
        "repair_policy": "auto",
        "nodes": [
            {
                "hostname": node.name,
                "ip_address": node.address,
                "ssh_user": node.ssh_user,
                "ssh_port": node.port,
                "ssh_private_key": private_key,
                "log_dirs": [str(path) for path in node.log_dirs],
                "roles": list(node.roles),
                "known_host_key": node.known_hosts_line,
            }
            for node in manifest.nodes
        ],
    }
    response = api.request("POST", "/clusters", json=body)
    if response.status_code >= 300:
        raise RuntimeError(f"registering the demo cluster failed: {response.status_code} {response.text[:500]}")
    uuid = response.json()["uuid"]
    logger.info("demo cluster registered cluster=%s nodes=%d", uuid, len(manifest.nodes))
    return uuid
