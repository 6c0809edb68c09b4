"""Schemathesis hook for tests/schemathesis/run: no request leaves the machine
(and a CPython 3.11 fault kept out of the run, below).

An integration's api_url is where mapsync's connection test, syncs and pushes
go. Schemathesis draws valid ones at random (public addresses among them), so
before each call a valid api_url is swapped for the demo's own OZmap test
server on loopback (MAPSYNC_SCHEMATHESIS_PLATFORM, which tests/schemathesis/run
reads from the demo's integration): the case stays as valid as it was drawn
(schemathesis checks it again after this hook), and mapsync reaches a platform
that answers at once, instead of a stranger's server or an address where
nothing listens and every request is retried. An invalid api_url is sent as
drawn, to be refused.
"""

import os
import re

import schemathesis
from hypothesis.internal import lambda_sources

# CPython 3.11 before 3.11.9 (the machines here have 3.11.7) may raise a
# SystemError, "AST constructor recursion depth mismatch" (gh-106905), when
# Hypothesis parses a lambda's source to describe it deep in schemathesis's
# recursion; it ended a run as an error once in several. The description is
# for display (and a filter's rewriting, which falls back on its own), so a
# failure here is taken as Hypothesis takes an unknown lambda.
_describe = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description

PLATFORM = os.environ["MAPSYNC_SCHEMATHESIS_PLATFORM"]


def valid_api_url(case):
    schemas = case.operation.schema.raw_schema["components"]["schemas"]
    return re.compile(schemas["NewIntegration"]["properties"]["api_url"]["pattern"])


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("api_url"), str):
        return
    if valid_api_url(case).search(body["api_url"]):
        body["api_url"] = PLATFORM
