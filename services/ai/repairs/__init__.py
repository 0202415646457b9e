"""Typed repair actions, the cluster's repair policy, and the guarded path that runs them."""
