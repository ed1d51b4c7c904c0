#!/usr/bin/env python3
"""Interop: the official OpenLineage Python client (openlineage-python) over HTTP.

Emits a small three-job pipeline through `OpenLineageClient` + `HttpTransport` (endpoint
`api/v1/lineage`, gzip bodies, an `api_key` auth provider), plus a DatasetEvent and a JobEvent,
then reads everything back over plain HTTP GraphQL and checks:

* every emit answered 201 with `{sequence, duplicate}`, sequences dense and increasing;
* re-emitting an event is a duplicate with the same sequence;
* lineage downstream / upstream / both is exactly the expected node and edge set, with distances;
* schema facets, the custom facet and the parent run facet are stored as sent;
* `events` gives back every event JSON-equal to the client's own serialization (`Serde`);
* a bad event is rejected with 400 and a structured error, and the client surfaces it.

Usage: ol_client_http.py --url http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import datetime as dt  # noqa: E402
import json  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

import attr  # noqa: E402
import requests  # noqa: E402
from interop_common import (  # noqa: E402
    Suite,
    base_parser,
    edge_key,
    expect,
    expect_equal,
    expect_same_set,
    graphql_data,
    load_event,
    node_key,
    post_event,
    unique_suffix,
    wait_until_up,
)
from openlineage.client import OpenLineageClient  # noqa: E402
from openlineage.client.event_v2 import (  # noqa: E402
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (  # noqa: E402
    DatasetFacet,
    documentation_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde  # noqa: E402
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport  # noqa: E402
from openlineage.client.uuid import generate_new_uuid  # noqa: E402

PRODUCER = "https://github.com/tributary/tributary/tree/main/tests/interop/ol_client_http.py"
API_KEY = "interop-api-key"
CUSTOM_FACET_KEY = "interopQuality"

LINEAGE_QUERY = """
query Lineage($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int) {
  lineage(start: $start, direction: $direction, depth: $depth, limit: $limit) {
    nodes { kind namespace name distance }
    edges { from { kind namespace name } to { kind namespace name } kind }
    truncated
    watermark { sequence events }
  }
}
"""


@attr.define
class InteropQualityDatasetFacet(DatasetFacet):
    """A custom dataset facet, declared the way the client documents custom facets."""

    score: float
    checkedBy: str  # noqa: N815
    # Above 2**53: survives only if the server keeps JSON integers exact.
    rowsChecked: int  # noqa: N815
    rules: list[str] = attr.field(factory=list)
    _additional_skip_redact: ClassVar[list[str]] = ["score", "checkedBy", "rowsChecked", "rules"]

    @staticmethod
    def _get_schema() -> str:
        return "https://tributary.example/spec/facets/1-0-0/InteropQualityDatasetFacet.json"


class RecordingHttpTransport(HttpTransport):
    """The stock HttpTransport, keeping what went on the wire and what came back."""

    def __init__(self, config: HttpConfig) -> None:
        super().__init__(config)
        self.sent: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def _prepare_request(self, event_str: str) -> tuple[bytes | str, dict[str, str]]:
        body, headers = super()._prepare_request(event_str)
        self.headers.append(dict(headers))
        return body, headers

    def emit(self, event: Any) -> requests.Response:
        wire = json.loads(Serde.to_json(event))
        response = super().emit(event)
        self.sent.append(wire)
        self.answers.append({"status": response.status_code, "body": _json_or_text(response)})
        return response


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def now(offset_seconds: int = 0) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def schema(*fields: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in fields]
    )


def main() -> None:
    args = base_parser(__doc__.splitlines()[1]).parse_args()
    base_url = args.url.rstrip("/")
    wait_until_up(base_url)
    suite = Suite("interop-ol-http")

    suffix = unique_suffix()
    job_ns = f"interop-airflow-{suffix}"
    ds_ns = f"postgres://warehouse-{suffix}:5432"

    config = HttpConfig.from_dict(
        {
            "url": base_url,
            "endpoint": "api/v1/lineage",
            "compression": "gzip",
            "timeout": 15,
            "auth": {"type": "api_key", "apiKey": API_KEY},
        }
    )
    transport = RecordingHttpTransport(config)
    client = OpenLineageClient(transport=transport)

    raw_orders, raw_customers = "raw.orders", "raw.customers"
    staging_orders, mart, summary = "staging.orders", "mart.customer_orders", "report.daily_summary"
    clean_job, join_job, report_job, parent_job = (
        "ingest.clean_orders",
        "transform.join_customers",
        "report.daily",
        "pipeline.daily",
    )
    parent_run_id = str(generate_new_uuid())
    quality = InteropQualityDatasetFacet(
        score=0.97,
        checkedBy="interop-suite",
        rowsChecked=2**53 + 1,
        rules=["not_null(order_id)", "unique(order_id)"],
    )
    orders_schema = (("order_id", "BIGINT"), ("customer_id", "BIGINT"), ("amount", "DECIMAL(12,2)"))
    customers_schema = (("customer_id", "BIGINT"), ("country", "VARCHAR"))
    mart_schema = (("order_id", "BIGINT"), ("country", "VARCHAR"), ("amount", "DECIMAL(12,2)"))
    summary_schema = (("day", "DATE"), ("country", "VARCHAR"), ("total", "DECIMAL(14,2)"))

    def run_pair(
        job_name: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
        run_facets: dict[str, Any] | None = None,
        job_facets: dict[str, Any] | None = None,
    ) -> tuple[str, list[RunEvent]]:
        run_id = str(generate_new_uuid())
        events = []
        for index, state in enumerate((RunState.START, RunState.COMPLETE)):
            events.append(
                RunEvent(
                    eventType=state,
                    eventTime=now(index),
                    run=Run(runId=run_id, facets=dict(run_facets or {})),
                    job=Job(namespace=job_ns, name=job_name, facets=dict(job_facets or {})),
                    inputs=inputs,
                    outputs=outputs,
                    producer=PRODUCER,
                )
            )
        return run_id, events

    clean_run, clean_events = run_pair(
        clean_job,
        [InputDataset(namespace=ds_ns, name=raw_orders, facets={"schema": schema(*orders_schema)})],
        [OutputDataset(namespace=ds_ns, name=staging_orders, facets={"schema": schema(*orders_schema)})],
        job_facets={"documentation": documentation_job.DocumentationJobFacet(description="clean raw orders")},
    )
    join_run, join_events = run_pair(
        join_job,
        [
            InputDataset(namespace=ds_ns, name=staging_orders),
            InputDataset(namespace=ds_ns, name=raw_customers, facets={"schema": schema(*customers_schema)}),
        ],
        [
            OutputDataset(
                namespace=ds_ns,
                name=mart,
                facets={"schema": schema(*mart_schema), CUSTOM_FACET_KEY: quality},
                outputFacets={
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=1200, size=65536
                    )
                },
            )
        ],
    )
    report_run, report_events = run_pair(
        report_job,
        [InputDataset(namespace=ds_ns, name=mart)],
        [OutputDataset(namespace=ds_ns, name=summary, facets={"schema": schema(*summary_schema)})],
        run_facets={
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent_run_id),
                job=parent_run.Job(namespace=job_ns, name=parent_job),
            )
        },
    )
    ref_dataset = "ref.currencies"
    dataset_event = DatasetEvent(
        eventTime=now(5),
        dataset=StaticDataset(
            namespace=ds_ns,
            name=ref_dataset,
            facets={"schema": schema(("code", "CHAR(3)"), ("name", "VARCHAR")), CUSTOM_FACET_KEY: quality},
        ),
        producer=PRODUCER,
    )
    static_job = "ref.load_fx_rates"
    job_event = JobEvent(
        eventTime=now(6),
        job=Job(
            namespace=job_ns,
            name=static_job,
            facets={"documentation": documentation_job.DocumentationJobFacet(description="static job")},
        ),
        inputs=[InputDataset(namespace=f"{ds_ns}-static", name="ref.fx_rates_raw")],
        outputs=[OutputDataset(namespace=f"{ds_ns}-static", name="ref.fx_rates")],
        producer=PRODUCER,
    )
    all_events: list[Any] = [*clean_events, *join_events, *report_events, dataset_event, job_event]

    @suite.check("client is configured as asked (gzip, api_key auth, endpoint)")
    def _() -> None:
        expect_equal(transport.compression, HttpCompression.GZIP, "transport compression")
        expect_equal(transport.endpoint, "api/v1/lineage", "transport endpoint")

    emitted_ok = suite.run_check(
        "OpenLineageClient.emit of 8 events (6 RunEvents, DatasetEvent, JobEvent)",
        lambda: [client.emit(event) for event in all_events],
    )
    if not emitted_ok:
        suite.finish()

    @suite.check("requests carried gzip and the bearer token")
    def _() -> None:
        for headers in transport.headers:
            expect_equal(headers.get("Content-Encoding"), "gzip", "Content-Encoding header")
            expect_equal(headers.get("Authorization"), f"Bearer {API_KEY}", "Authorization header")

    @suite.check("every emit answered 201 {sequence, duplicate: false}, sequences dense and increasing")
    def _() -> None:
        for answer in transport.answers:
            expect_equal(answer["status"], 201, "HTTP status")
            body = answer["body"]
            expect(isinstance(body, dict), f"answer body is not a JSON object: {body!r}")
            expect(isinstance(body.get("sequence"), int), f"answer has no integer sequence: {body}")
            expect_equal(body.get("duplicate"), False, f"duplicate flag of a first emit ({body})")
        sequences = [answer["body"]["sequence"] for answer in transport.answers]
        first = sequences[0]
        expect(first >= 1, f"sequences are 1-based, got {first}")
        expect_equal(sequences, list(range(first, first + len(sequences))), "sequences of 8 fresh events")

    @suite.check("re-emitting the same event is a duplicate with the same sequence")
    def _() -> None:
        first_wire, first_answer = transport.sent[0], transport.answers[0]["body"]
        client.emit(clean_events[0])
        expect_equal(transport.sent[-1], first_wire, "client serialization of the re-emitted event")
        expect_equal(transport.answers[-1]["status"], 201, "HTTP status of a duplicate")
        expect_equal(
            transport.answers[-1]["body"],
            {"sequence": first_answer["sequence"], "duplicate": True},
            "answer to a duplicate",
        )

    def lineage(start: tuple[str, str, str], direction: str, **extra: Any) -> dict[str, Any]:
        kind, namespace, name = start
        variables = {"start": {"kind": kind, "namespace": namespace, "name": name}, "direction": direction}
        variables.update(extra)
        return graphql_data(base_url, LINEAGE_QUERY, variables)["lineage"]

    def ds(name: str) -> tuple[str, str, str]:
        return ("DATASET", ds_ns, name)

    def job(name: str) -> tuple[str, str, str]:
        return ("JOB", job_ns, name)

    def reads(dataset: str, job_name: str) -> tuple[Any, Any, str]:
        return (ds(dataset), job(job_name), "READS")

    def writes(job_name: str, dataset: str) -> tuple[Any, Any, str]:
        return (job(job_name), ds(dataset), "WRITES")

    def check_lineage(
        answer: dict[str, Any], nodes: dict[tuple[str, str, str], int | None], edges: list[Any]
    ) -> None:
        got_nodes = {node_key(node): node["distance"] for node in answer["nodes"]}
        expect_same_set([node_key(node) for node in answer["nodes"]], nodes.keys(), "lineage nodes")
        for node, distance in nodes.items():
            if distance is not None:
                expect_equal(got_nodes[node], distance, f"distance of {node}")
        expect_same_set([edge_key(edge) for edge in answer["edges"]], edges, "lineage edges")
        expect_equal(answer["truncated"], False, "truncated")

    @suite.check("lineage DOWNSTREAM of raw.orders is exactly the pipeline below it")
    def _() -> None:
        answer = lineage(ds(raw_orders), "DOWNSTREAM")
        check_lineage(
            answer,
            {
                ds(raw_orders): 0,
                job(clean_job): 1,
                ds(staging_orders): 1,
                job(join_job): 2,
                ds(mart): 2,
                job(report_job): 3,
                ds(summary): 3,
            },
            [
                reads(raw_orders, clean_job),
                writes(clean_job, staging_orders),
                reads(staging_orders, join_job),
                writes(join_job, mart),
                reads(mart, report_job),
                writes(report_job, summary),
            ],
        )

    @suite.check("lineage UPSTREAM of report.daily_summary is exactly the pipeline above it")
    def _() -> None:
        answer = lineage(ds(summary), "UPSTREAM")
        check_lineage(
            answer,
            {
                ds(summary): 0,
                job(report_job): 1,
                ds(mart): 1,
                job(join_job): 2,
                ds(staging_orders): 2,
                ds(raw_customers): 2,
                job(clean_job): 3,
                ds(raw_orders): 3,
            },
            [
                reads(raw_orders, clean_job),
                writes(clean_job, staging_orders),
                reads(staging_orders, join_job),
                reads(raw_customers, join_job),
                writes(join_job, mart),
                reads(mart, report_job),
                writes(report_job, summary),
            ],
        )

    @suite.check("lineage DOWNSTREAM of raw.orders with depth 1 stops after one job hop")
    def _() -> None:
        answer = lineage(ds(raw_orders), "DOWNSTREAM", depth=1)
        got = {node_key(node): node["distance"] for node in answer["nodes"]}
        expect_equal(
            got,
            {ds(raw_orders): 0, job(clean_job): 1, ds(staging_orders): 1},
            "nodes and distances",
        )

    @suite.check("lineage BOTH of the join job reaches the whole pipeline")
    def _() -> None:
        answer = lineage(job(join_job), "BOTH")
        check_lineage(
            answer,
            {
                node: None
                for node in (
                    ds(raw_orders),
                    ds(raw_customers),
                    job(clean_job),
                    ds(staging_orders),
                    job(join_job),
                    ds(mart),
                    job(report_job),
                    ds(summary),
                )
            },
            [
                reads(raw_orders, clean_job),
                writes(clean_job, staging_orders),
                reads(staging_orders, join_job),
                reads(raw_customers, join_job),
                writes(join_job, mart),
                reads(mart, report_job),
                writes(report_job, summary),
            ],
        )
        distance = {node_key(node): node["distance"] for node in answer["nodes"]}
        expect_equal(distance[job(join_job)], 0, "distance of the start")

    dataset_query = """
    query Dataset($namespace: String!, $name: String!) {
      dataset(namespace: $namespace, name: $name) {
        namespace name facets
        producers { kind namespace name }
        consumers { kind namespace name }
      }
    }
    """

    @suite.check("mart dataset keeps the schema facet and the custom facet as sent")
    def _() -> None:
        dataset = graphql_data(base_url, dataset_query, {"namespace": ds_ns, "name": mart})["dataset"]
        expect(dataset is not None, f"dataset {ds_ns}/{mart} is unknown to the server")
        sent_facets = transport.sent[3]["outputs"][0]["facets"]  # join COMPLETE, the latest write
        facets = dataset["facets"]
        expect(isinstance(facets, dict), f"facets is not a JSON object: {facets!r}")
        expect_equal(facets.get("schema"), sent_facets["schema"], "stored schema facet")
        expect_equal(facets.get(CUSTOM_FACET_KEY), sent_facets[CUSTOM_FACET_KEY], "stored custom facet")
        expect_equal(facets[CUSTOM_FACET_KEY]["rowsChecked"], 2**53 + 1, "custom facet integer above 2^53")
        expect_same_set([node_key(n) for n in dataset["producers"]], [job(join_job)], "mart producers")
        expect_same_set([node_key(n) for n in dataset["consumers"]], [job(report_job)], "mart consumers")

    @suite.check("DatasetEvent creates the dataset with its facets")
    def _() -> None:
        dataset = graphql_data(base_url, dataset_query, {"namespace": ds_ns, "name": ref_dataset})["dataset"]
        expect(dataset is not None, f"dataset {ds_ns}/{ref_dataset} from a DatasetEvent is unknown")
        sent_facets = transport.sent[6]["dataset"]["facets"]
        expect_equal(dataset["facets"].get("schema"), sent_facets["schema"], "schema facet")
        expect_equal(dataset["facets"].get(CUSTOM_FACET_KEY), sent_facets[CUSTOM_FACET_KEY], "custom facet")

    @suite.check("JobEvent creates the job")
    def _() -> None:
        data = graphql_data(
            base_url,
            "query($ns: String!, $name: String!) { job(namespace: $ns, name: $name) { namespace name } }",
            {"ns": job_ns, "name": static_job},
        )
        expect_equal(data["job"], {"namespace": job_ns, "name": static_job}, "job from a JobEvent")

    @suite.check("report run has state COMPLETE, its job, inputs, outputs and the parent run facet")
    def _() -> None:
        data = graphql_data(
            base_url,
            """query($runId: String!) { run(runId: $runId) {
                 runId state job { kind namespace name }
                 inputs { kind namespace name } outputs { kind namespace name } facets } }""",
            {"runId": report_run},
        )
        run = data["run"]
        expect(run is not None, f"run {report_run} is unknown")
        expect_equal(run["runId"], report_run, "runId")
        expect_equal(run["state"], "COMPLETE", "state after START + COMPLETE")
        expect_equal(node_key(run["job"]), job(report_job), "run's job")
        expect_same_set([node_key(n) for n in run["inputs"]], [ds(mart)], "run inputs")
        expect_same_set([node_key(n) for n in run["outputs"]], [ds(summary)], "run outputs")
        sent_parent = transport.sent[5]["run"]["facets"]["parent"]
        expect_equal(run["facets"].get("parent"), sent_parent, "stored parent run facet")
        expect_equal(run["facets"]["parent"]["run"]["runId"], parent_run_id, "parent runId")

    @suite.check("events read back are JSON-equal to the client's serialization (Serde)")
    def _() -> None:
        sequences = [answer["body"]["sequence"] for answer in transport.answers[: len(all_events)]]
        stored: dict[int, Any] = {}
        after = sequences[0] - 1
        for _page in range(100):
            page = graphql_data(
                base_url,
                "query($after: Int, $first: Int) { events(after: $after, first: $first) "
                "{ events { sequence event } nextAfter } }",
                {"after": after, "first": 3},
            )["events"]
            expect(len(page["events"]) <= 3, f"events(first: 3) returned {len(page['events'])} events")
            for item in page["events"]:
                expect(item["sequence"] > after, f"events(after: {after}) returned sequence {item['sequence']}")
                stored[item["sequence"]] = item["event"]
            if page["nextAfter"] is None or all(seq in stored for seq in sequences):
                break
            expect(page["nextAfter"] > after, f"nextAfter {page['nextAfter']} does not advance past {after}")
            after = page["nextAfter"]
        for sequence, sent in zip(sequences, transport.sent):
            expect(sequence in stored, f"event with sequence {sequence} not returned by `events`")
            expect_equal(stored[sequence], sent, f"stored event {sequence} vs Serde.to_dict of the sent event")

    @suite.check("a bad event answers 400 INVALID_ARGUMENT naming run.runId")
    def _() -> None:
        response = post_event(base_url, load_event("fluentd_event_no_run_id.json"))
        expect_equal(response.status_code, 400, f"HTTP status (body: {response.text[:300]})")
        error = response.json().get("error", {})
        expect_equal(error.get("code"), "INVALID_ARGUMENT", "error.code")
        expect_equal(error.get("field"), "run.runId", "error.field")
        expect(bool(error.get("message")), f"error.message is empty: {error}")

    @suite.check("the client raises HTTPError when the server rejects an event")
    def _() -> None:
        bad = RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=now(),
            run=Run(runId=str(generate_new_uuid())),
            job=Job(namespace=job_ns, name="bad.job"),
            outputs=[
                OutputDataset(
                    namespace=ds_ns,
                    name="bad.output",
                    outputFacets={
                        # rowCount must be an integer: the spec schema rejects a string.
                        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount="many"  # type: ignore[arg-type]
                        )
                    },
                )
            ],
            producer=PRODUCER,
        )
        try:
            client.emit(bad)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else None
            expect_equal(status, 400, "status in the client's HTTPError")
            body = error.response.json()
            expect_equal(body.get("error", {}).get("code"), "INVALID_ARGUMENT", "error.code")
            field = body.get("error", {}).get("field", "")
            expect(
                field.startswith("outputs[0].outputFacets.outputStatistics"),
                f"error.field should point into outputs[0].outputFacets.outputStatistics, got {field!r}",
            )
        else:
            raise AssertionError("emit of an event with rowCount=\"many\" succeeded; expected HTTP 400")

    client.close()
    suite.finish()


if __name__ == "__main__":
    main()
