"""docs/asyncapi.yaml matches the event models and covers every stream."""

import yaml

from hfd import asyncapi
from libs.common.names import STREAM_SUBJECTS


def test_asyncapi_file_is_current():
    assert asyncapi.main(["--check"]) == 0, "docs/asyncapi.yaml is stale; run: python -m hfd.asyncapi"


def test_asyncapi_documents_every_model_and_stream():
    document = yaml.safe_load(asyncapi.render())
    schemas = set(document["components"]["schemas"])
    models = {model.__name__ for model in asyncapi.event_models()}
    streams = {channel["description"].split("`")[1] for channel in document["channels"].values()}
    assert models <= schemas
    assert streams == set(STREAM_SUBJECTS)


def test_asyncapi_fault_event_schema():
    schema = yaml.safe_load(asyncapi.render())["components"]["schemas"]["FaultEvent"]
    assert schema["properties"]["event"]["enum"] == ["detected", "updated", "resolved"]
    assert "incident_id" in schema["required"]
