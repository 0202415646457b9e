"""Run the demo cluster: ``python -m hfd.democluster --nodes 3``."""

from hfd.democluster.cli import demo_cluster

demo_cluster()
