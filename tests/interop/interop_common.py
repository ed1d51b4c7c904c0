"""Shared helpers for the interop scripts: check counting, HTTP and GraphQL over plain requests.

Every script builds a `Suite`, registers checks with `suite.check(name)` (a decorator that runs the
function at once), and ends with `suite.finish()`, which prints one line per failure, the closing line
`interop-NAME: N passed, M failed`, and exits non-zero when anything failed. A check fails when its
function raises, most often through `expect(...)` or `expect_equal(...)`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

import requests

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
# Per-request timeout, in seconds. A healthy server answers in milliseconds.
TIMEOUT = 15


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_equal(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise CheckFailed(f"{what}:\n  expected: {_show(want)}\n  got:      {_show(got)}")


def _show(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(value)


class Suite:
    def __init__(self, name: str) -> None:
        self.name = name
        self.passed = 0
        self.failures: list[tuple[str, str]] = []

    def check(self, name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
        """Decorator: run the function now as one named check."""

        def run(function: Callable[[], None]) -> Callable[[], None]:
            self.run_check(name, function)
            return function

        return run

    def run_check(self, name: str, function: Callable[[], None]) -> bool:
        try:
            function()
        except CheckFailed as error:
            self._fail(name, str(error))
            return False
        except Exception as error:  # noqa: BLE001 - any error fails this check only
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._fail(name, f"unexpected {type(error).__name__}: {error}\n{detail}")
            return False
        self.passed += 1
        print(f"ok   {name}", flush=True)
        return True

    def _fail(self, name: str, message: str) -> None:
        self.failures.append((name, message))
        indented = message.replace("\n", "\n     ")
        print(f"FAIL {name}: {indented}", flush=True)

    def finish(self) -> None:
        if self.failures:
            print(f"\n{len(self.failures)} failed check(s) in {self.name}:", flush=True)
            for name, message in self.failures:
                print(f"  - {name}: {message.splitlines()[0] if message else ''}", flush=True)
        print(f"{self.name}: {self.passed} passed, {len(self.failures)} failed", flush=True)
        sys.exit(1 if self.failures else 0)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--url",
        required=True,
        help="base URL of a running server, as printed by `tributary serve` (http://127.0.0.1:PORT)",
    )
    return parser


def unique_suffix() -> str:
    """A short random tag so that runs against one long-lived server do not see each other's data."""
    return uuid.uuid4().hex[:10]


def load_event(file_name: str) -> dict[str, Any]:
    with open(DATA_DIR / file_name, encoding="utf-8") as handle:
        return json.load(handle)


def load_event_text(file_name: str) -> str:
    return (DATA_DIR / file_name).read_text(encoding="utf-8")


def personalize(event: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Copy of an example event moved into namespaces of its own (namespace + "-" + suffix), with
    run ids mapped to new ones (the same original id always maps to the same new id), so that a
    script can run again against the same server and still see first-time answers."""
    event = copy.deepcopy(event)

    def new_run_id(run_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tributary-interop/{suffix}/{run_id}"))

    def move(node: Any) -> None:
        if isinstance(node, dict) and isinstance(node.get("namespace"), str):
            node["namespace"] = f"{node['namespace']}-{suffix}"

    run = event.get("run")
    if isinstance(run, dict):
        if isinstance(run.get("runId"), str):
            run["runId"] = new_run_id(run["runId"])
        parent = (run.get("facets") or {}).get("parent")
        if isinstance(parent, dict):
            if isinstance(parent.get("run"), dict) and isinstance(parent["run"].get("runId"), str):
                parent["run"]["runId"] = new_run_id(parent["run"]["runId"])
            move(parent.get("job"))
    move(event.get("job"))
    move(event.get("dataset"))
    for key in ("inputs", "outputs"):
        for dataset in event.get(key) or []:
            move(dataset)
    return event


def wait_until_up(base_url: str, seconds: float = 20.0) -> None:
    """Wait until the GraphQL endpoint answers, so a script started with the server does not race it."""
    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            requests.post(
                f"{base_url}/graphql", json={"query": "{ watermark { sequence } }"}, timeout=TIMEOUT
            )
            return
        except requests.RequestException as error:
            last_error = error
            time.sleep(0.2)
    print(f"server at {base_url} did not answer within {seconds}s: {last_error}", flush=True)
    sys.exit(2)


def post_event(base_url: str, event: dict[str, Any] | str, **kwargs: Any) -> requests.Response:
    body = event if isinstance(event, str) else json.dumps(event)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.post(
        f"{base_url}/api/v1/lineage", data=body.encode("utf-8"), headers=headers, timeout=TIMEOUT, **kwargs
    )


def post_event_ok(base_url: str, event: dict[str, Any]) -> dict[str, Any]:
    """POST one event; expect 201 and the `{"sequence", "duplicate"}` answer."""
    response = post_event(base_url, event)
    expect(
        response.status_code == 201,
        f"POST /api/v1/lineage answered {response.status_code}, expected 201; body: {response.text[:500]}",
    )
    answer = response.json()
    expect(
        isinstance(answer.get("sequence"), int) and isinstance(answer.get("duplicate"), bool),
        f"POST /api/v1/lineage answer is not {{sequence: int, duplicate: bool}}: {answer}",
    )
    return answer


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain-HTTP GraphQL: returns the whole response document (`data` and maybe `errors`)."""
    response = requests.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    expect(
        response.status_code == 200,
        f"POST /graphql answered {response.status_code}; body: {response.text[:500]}",
    )
    return response.json()


def graphql_data(base_url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain-HTTP GraphQL that must succeed without errors: returns `data`."""
    document = graphql(base_url, query, variables)
    expect(not document.get("errors"), f"GraphQL errors: {_show(document.get('errors'))}\nquery: {query}")
    expect(isinstance(document.get("data"), dict), f"GraphQL answer has no data: {_show(document)}")
    return document["data"]


def node_key(node: dict[str, Any]) -> tuple[str, str, str]:
    return (node["kind"], node["namespace"], node["name"])


def edge_key(edge: dict[str, Any]) -> tuple[tuple[str, str, str], tuple[str, str, str], str]:
    return (node_key(edge["from"]), node_key(edge["to"]), edge["kind"])


def show_nodes(nodes: Any) -> str:
    return "\n    ".join(sorted(str(node) for node in nodes))


def expect_same_set(got: Any, want: Any, what: str) -> None:
    got = list(got)
    got_set, want_set = set(got), set(want)
    if got_set != want_set:
        missing = want_set - got_set
        extra = got_set - want_set
        raise CheckFailed(
            f"{what} differ:\n  missing: {show_nodes(missing) or '-'}\n  unexpected: {show_nodes(extra) or '-'}"
        )
    expect(
        len(list(got)) == len(got_set),
        f"{what}: answer lists some entries more than once: {sorted(got)}",
    )
