"""A demo Hadoop cluster: SSH nodes on 127.0.0.x whose simulated daemons write Hadoop logs.

The package root imports nothing eagerly, because the simulated Hadoop commands import
``hfd.democluster.hadoopsim`` on every call and must start fast.
"""

__all__ = ["ClusterManifest", "DemoCluster", "DemoClusterConfig", "load_manifest"]


def __getattr__(name: str):
    if name == "DemoCluster":
        from hfd.democluster.cluster import DemoCluster

        return DemoCluster
    if name == "DemoClusterConfig":
        from hfd.democluster.config import DemoClusterConfig

        return DemoClusterConfig
    if name in ("ClusterManifest", "load_manifest"):
        from hfd.democluster import manifest

        return getattr(manifest, name)
    raise AttributeError(f"module 'hfd.democluster' has no attribute {name!r}")
