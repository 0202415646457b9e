"""Schemathesis hooks of ``test_schemathesis_full``, loaded through SCHEMATHESIS_HOOKS.

They add to the hooks of ``tests.gateway.schemathesis_checks`` (the contract's error shape and
the protected run account). Random path parameters almost never name a cluster or node that
exists, so ``flatmap_path_parameters`` lets hypothesis also draw the registered demo cluster's
uuid, its node names and its log types (from HFD_SCHEMATHESIS_CLUSTER, HFD_SCHEMATHESIS_NODES
and HFD_SCHEMATHESIS_LOG_TYPES, comma-separated). That sends part of the requests down the
paths that read and act on real data. DELETE requests keep their generated values, and
``filter_case`` drops a DELETE of the demo cluster that the stateful phase builds from
``GET /clusters``, so the run keeps the cluster it tests the other routes against.
"""

import os

import schemathesis
from hypothesis import strategies as st

import tests.gateway.schemathesis_checks  # noqa: F401 - registers the shared check and filter_case


def _names(variable: str) -> list[str]:
    return [item for item in os.environ.get(variable, "").split(",") if item]


KNOWN_VALUES = {
    "uuid": _names("HFD_SCHEMATHESIS_CLUSTER"),
    "name": _names("HFD_SCHEMATHESIS_NODES"),
    "node_name": _names("HFD_SCHEMATHESIS_NODES"),
    "log_type": _names("HFD_SCHEMATHESIS_LOG_TYPES"),
}


@schemathesis.hook
def filter_case(context, case) -> bool:
    """Keep a generated request unless it deletes the demo cluster."""
    if case.method.upper() != "DELETE":
        return True
    return (case.path_parameters or {}).get("uuid") not in KNOWN_VALUES["uuid"]


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Draw either the generated path parameters or a copy with known cluster, node and log type values."""
    operation = context.operation
    if not path_parameters or (operation is not None and operation.method.upper() == "DELETE"):
        return st.just(path_parameters)

    choices = {name: values for name, values in KNOWN_VALUES.items() if name in path_parameters and values}
    if not choices:
        return st.just(path_parameters)

    known = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in choices.items()})
    return st.one_of(st.just(path_parameters), known.map(lambda values: {**path_parameters, **values}))
