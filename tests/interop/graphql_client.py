#!/usr/bin/env python3
"""Interop: the `gql` GraphQL client (RequestsHTTPTransport) against /graphql.

Posts a small pipeline over plain HTTP, then with gql (which first fetches the schema by
introspection and validates every query against it locally) checks:

* the schema gql introspected has the documented Query fields;
* `watermark` reflects the posted events;
* `lineage` downstream is exactly the expected nodes, distances and edges; `limit` truncates;
* `dataset` returns facets, producers and consumers, and null for an unknown dataset;
* `run` returns state (COMPLETE, FAIL), job, inputs, outputs and a custom run facet;
* `datasets` pages through a namespace with `first`/`after` without gaps or repeats, and `search`
  filters case-insensitively;
* an invalid runId is a GraphQL error with extensions.code BAD_USER_INPUT.

Usage: graphql_client.py --url http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import datetime as dt  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from gql import Client, GraphQLRequest  # noqa: E402
from gql.transport.exceptions import TransportQueryError  # noqa: E402
from gql.transport.requests import RequestsHTTPTransport  # noqa: E402
from interop_common import (  # noqa: E402
    TIMEOUT,
    Suite,
    base_parser,
    edge_key,
    expect,
    expect_equal,
    expect_same_set,
    node_key,
    post_event_ok,
    unique_suffix,
    wait_until_up,
)

PRODUCER = "https://github.com/tributary/tributary/tree/main/tests/interop/graphql_client.py"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_PRODUCER = PRODUCER


def schema_facet(*names: str) -> dict[str, Any]:
    return {
        "_producer": FACET_PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": [{"name": name, "type": "STRING"} for name in names],
    }


def main() -> None:
    args = base_parser(__doc__.splitlines()[1]).parse_args()
    base_url = args.url.rstrip("/")
    wait_until_up(base_url)
    suite = Suite("interop-graphql")

    suffix = unique_suffix()
    job_ns = f"interop-dagster-{suffix}"
    ds_ns = f"s3://interop-bucket-{suffix}"
    clock = dt.datetime(2024, 3, 1, 6, 0, tzinfo=dt.timezone.utc)
    sequences: list[int] = []

    def post(event_type: str, run_id: str, job: str, inputs: list[str], outputs: list[str], **extra: Any) -> None:
        nonlocal clock
        clock += dt.timedelta(minutes=1)
        event = {
            "eventType": event_type,
            "eventTime": clock.isoformat().replace("+00:00", "Z"),
            "run": {"runId": run_id, **extra.get("run", {})},
            "job": {"namespace": job_ns, "name": job},
            "inputs": [{"namespace": ds_ns, "name": name} for name in inputs],
            "outputs": [
                {"namespace": ds_ns, "name": name, "facets": {"schema": extra.get("schemas", {})[name]}}
                if name in extra.get("schemas", {})
                else {"namespace": ds_ns, "name": name}
                for name in outputs
            ],
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
        }
        answer = post_event_ok(base_url, event)
        expect(not answer["duplicate"], f"fresh event reported as a duplicate: {answer}")
        sequences.append(answer["sequence"])

    extract_run, sessionize_run, kpis_run = (str(uuid.uuid4()) for _ in range(3))
    attempt_facet = {
        "_producer": FACET_PRODUCER,
        "_schemaURL": "https://tributary.example/spec/facets/1-0-0/InteropAttemptRunFacet.json",
        "attempt": 2,
        "orchestrator": {"name": "dagster", "tags": ["nightly", "interop"]},
    }
    sessions_schema = schema_facet("session_id", "user_id", "started_at")

    def setup() -> None:
        post("START", extract_run, "etl.extract", ["src.events"], ["lake.events"])
        post("COMPLETE", extract_run, "etl.extract", ["src.events"], ["lake.events"])
        post(
            "START",
            sessionize_run,
            "etl.sessionize",
            ["lake.events"],
            ["lake.sessions"],
            run={"facets": {"interopAttempt": attempt_facet}},
        )
        post(
            "COMPLETE",
            sessionize_run,
            "etl.sessionize",
            ["lake.events"],
            ["lake.sessions"],
            run={"facets": {"interopAttempt": attempt_facet}},
            schemas={"lake.sessions": sessions_schema},
        )
        post("START", kpis_run, "etl.kpis", ["lake.sessions"], ["mart.kpis"])
        post("FAIL", kpis_run, "etl.kpis", ["lake.sessions"], ["mart.kpis"])

    if not suite.run_check("setup: 6 events POSTed over HTTP answer 201", setup):
        suite.finish()

    transport = RequestsHTTPTransport(url=f"{base_url}/graphql", timeout=TIMEOUT, retries=0)
    client = Client(transport=transport, fetch_schema_from_transport=True)

    with client as session:

        def execute(query: str, **variables: Any) -> dict[str, Any]:
            return session.execute(GraphQLRequest(query, variable_values=variables or None))

        @suite.check("gql introspects the schema: Query has the documented fields")
        def _() -> None:
            expect(client.schema is not None, "gql did not fetch a schema")
            query_type = client.schema.query_type
            expect(query_type is not None, "schema has no Query type")
            for field in ("watermark", "dataset", "job", "run", "lineage", "datasets", "events"):
                expect(field in query_type.fields, f"Query has no field {field!r}: {sorted(query_type.fields)}")
            for enum, values in (("NodeKind", {"DATASET", "JOB"}), ("Direction", {"UPSTREAM", "DOWNSTREAM", "BOTH"})):
                got = set(client.schema.type_map[enum].values)  # type: ignore[union-attr]
                expect_equal(got, values, f"values of enum {enum}")

        @suite.check("watermark covers the posted events")
        def _() -> None:
            watermark = execute("query { watermark { sequence events } }")["watermark"]
            expect(
                watermark["sequence"] >= max(sequences),
                f"watermark.sequence {watermark['sequence']} < last posted sequence {max(sequences)}",
            )
            expect(watermark["events"] >= len(sequences), f"watermark.events {watermark['events']} < 6")

        lineage_query = """
        query Lineage($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int) {
          lineage(start: $start, direction: $direction, depth: $depth, limit: $limit) {
            nodes { kind namespace name distance }
            edges { from { kind namespace name } to { kind namespace name } kind }
            truncated
            watermark { sequence events }
          }
        }"""

        def ds(name: str) -> tuple[str, str, str]:
            return ("DATASET", ds_ns, name)

        def job(name: str) -> tuple[str, str, str]:
            return ("JOB", job_ns, name)

        source = {"kind": "DATASET", "namespace": ds_ns, "name": "src.events"}

        @suite.check("lineage DOWNSTREAM of src.events: exact nodes, distances and edges")
        def _() -> None:
            answer = execute(lineage_query, start=source, direction="DOWNSTREAM")["lineage"]
            got = {node_key(node): node["distance"] for node in answer["nodes"]}
            expect_equal(
                got,
                {
                    ds("src.events"): 0,
                    job("etl.extract"): 1,
                    ds("lake.events"): 1,
                    job("etl.sessionize"): 2,
                    ds("lake.sessions"): 2,
                    job("etl.kpis"): 3,
                    ds("mart.kpis"): 3,
                },
                "nodes and distances",
            )
            expect_same_set(
                [edge_key(edge) for edge in answer["edges"]],
                [
                    (ds("src.events"), job("etl.extract"), "READS"),
                    (job("etl.extract"), ds("lake.events"), "WRITES"),
                    (ds("lake.events"), job("etl.sessionize"), "READS"),
                    (job("etl.sessionize"), ds("lake.sessions"), "WRITES"),
                    (ds("lake.sessions"), job("etl.kpis"), "READS"),
                    (job("etl.kpis"), ds("mart.kpis"), "WRITES"),
                ],
                "edges",
            )
            expect_equal(answer["truncated"], False, "truncated")
            expect(answer["watermark"]["sequence"] >= max(sequences), f"lineage watermark {answer['watermark']}")

        @suite.check("lineage with limit 2 is cut and says truncated")
        def _() -> None:
            answer = execute(lineage_query, start=source, direction="DOWNSTREAM", limit=2)["lineage"]
            expect(len(answer["nodes"]) <= 2, f"limit 2 returned {len(answer['nodes'])} nodes")
            expect_equal(answer["truncated"], True, "truncated")
            expect(
                ds("src.events") in [node_key(node) for node in answer["nodes"]],
                f"a cut answer should still hold the start: {answer['nodes']}",
            )

        dataset_query = """
        query Dataset($namespace: String!, $name: String!) {
          dataset(namespace: $namespace, name: $name) {
            namespace name facets
            producers { kind namespace name }
            consumers { kind namespace name }
          }
        }"""

        @suite.check("dataset lake.sessions: schema facet, producer and consumer")
        def _() -> None:
            dataset = execute(dataset_query, namespace=ds_ns, name="lake.sessions")["dataset"]
            expect(dataset is not None, "dataset lake.sessions is unknown")
            expect_equal((dataset["namespace"], dataset["name"]), (ds_ns, "lake.sessions"), "identity")
            expect_equal(dataset["facets"].get("schema"), sessions_schema, "schema facet")
            expect_same_set([node_key(n) for n in dataset["producers"]], [job("etl.sessionize")], "producers")
            expect_same_set([node_key(n) for n in dataset["consumers"]], [job("etl.kpis")], "consumers")

        @suite.check("dataset that was never seen is null, not an error")
        def _() -> None:
            data = execute(dataset_query, namespace=ds_ns, name="no.such.dataset")
            expect_equal(data["dataset"], None, "unknown dataset")

        run_query = """
        query Run($runId: String!) {
          run(runId: $runId) {
            runId state
            job { kind namespace name }
            inputs { kind namespace name }
            outputs { kind namespace name }
            facets
          }
        }"""

        @suite.check("run of etl.sessionize: COMPLETE, job, inputs, outputs, custom run facet")
        def _() -> None:
            run = execute(run_query, runId=sessionize_run)["run"]
            expect(run is not None, f"run {sessionize_run} is unknown")
            expect_equal(run["runId"], sessionize_run, "runId")
            expect_equal(run["state"], "COMPLETE", "state")
            expect_equal(node_key(run["job"]), job("etl.sessionize"), "job")
            expect_same_set([node_key(n) for n in run["inputs"]], [ds("lake.events")], "inputs")
            expect_same_set([node_key(n) for n in run["outputs"]], [ds("lake.sessions")], "outputs")
            expect_equal(run["facets"].get("interopAttempt"), attempt_facet, "custom run facet")

        @suite.check("run of etl.kpis after START + FAIL is FAIL")
        def _() -> None:
            run = execute(run_query, runId=kpis_run)["run"]
            expect(run is not None, f"run {kpis_run} is unknown")
            expect_equal(run["state"], "FAIL", "state")

        @suite.check("run that was never seen is null")
        def _() -> None:
            expect_equal(execute(run_query, runId=str(uuid.uuid4()))["run"], None, "unknown run")

        datasets_query = """
        query Datasets($namespace: String, $search: String, $first: Int, $after: String) {
          datasets(namespace: $namespace, search: $search, first: $first, after: $after) {
            nodes { kind namespace name }
            nextCursor
          }
        }"""
        all_datasets = ["src.events", "lake.events", "lake.sessions", "mart.kpis"]

        @suite.check("datasets pages through a namespace two at a time, no gaps, no repeats")
        def _() -> None:
            seen: list[tuple[str, str, str]] = []
            after = None
            for _page in range(10):
                page = execute(datasets_query, namespace=ds_ns, first=2, after=after)["datasets"]
                expect(len(page["nodes"]) <= 2, f"first: 2 returned {len(page['nodes'])} datasets")
                seen.extend(node_key(d) for d in page["nodes"])
                after = page["nextCursor"]
                if after is None:
                    break
            else:
                raise AssertionError(f"paging did not end after 10 pages; seen {seen}")
            expect_same_set(seen, [ds(name) for name in all_datasets], "datasets over all pages")

        @suite.check("datasets search is a case-insensitive substring filter")
        def _() -> None:
            page = execute(datasets_query, namespace=ds_ns, search="LAKE.", first=50)["datasets"]
            expect_same_set(
                [node_key(d) for d in page["nodes"]],
                [ds("lake.events"), ds("lake.sessions")],
                "datasets matching LAKE.",
            )
            expect_equal(page["nextCursor"], None, "nextCursor of the only page")

        @suite.check("an invalid runId is a GraphQL error with extensions.code BAD_USER_INPUT")
        def _() -> None:
            try:
                data = execute(run_query, runId="not-a-uuid")
            except TransportQueryError as error:
                errors = error.errors or []
                expect(len(errors) >= 1, f"TransportQueryError without errors: {error}")
                code = (errors[0].get("extensions") or {}).get("code")
                expect_equal(code, "BAD_USER_INPUT", f"extensions.code (errors: {errors})")
                expect(bool(errors[0].get("message")), f"error without message: {errors[0]}")
            else:
                raise AssertionError(f"run(runId: \"not-a-uuid\") succeeded with {data}; expected an error")

    suite.finish()


if __name__ == "__main__":
    main()
