"""Schemathesis hook for tests/schemathesis/run: no request leaves the machine.

An integration's api_url is where mapsync's connection test, syncs and pushes
go. Schemathesis draws valid ones at random (public addresses among them), so
before each call a valid api_url is swapped for another valid one on loopback,
where nothing listens: the case stays as valid as it was drawn (schemathesis
checks it again after this hook), and mapsync is refused at once instead of
reaching a stranger's server. An invalid api_url is sent as drawn, to be
refused.
"""

import re

import schemathesis

NOWHERE = "http://127.0.0.1:9"


def valid_api_url(case):
    schemas = case.operation.schema.raw_schema["components"]["schemas"]
    return re.compile(schemas["NewIntegration"]["properties"]["api_url"]["pattern"])


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("api_url"), str):
        return
    if valid_api_url(case).search(body["api_url"]):
        body["api_url"] = NOWHERE
