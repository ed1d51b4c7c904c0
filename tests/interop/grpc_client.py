#!/usr/bin/env python3
"""Interop: grpcio (the reference gRPC stack) against the tributary.v1 services over h2c.

Generates Python stubs from proto/tributary/v1/lineage.proto with grpc_tools.protoc at run time,
then checks, on the same address that serves HTTP:

* Ingest.IngestEvent: one valid event is accepted (index 0); sending it again is a duplicate;
* Ingest.IngestStream: a mix of valid and invalid events gets exactly one ack per event, in order,
  with the right index; bad events get INVALID_ARGUMENT naming the offending field; the stream
  goes on after a bad event, and acks come back one at a time in a request/answer conversation;
* Ingest.IngestBatch: the summary counts the events and lists the rejected one by index;
* Lineage.GetLineage and Lineage.GetDataset answer from what was ingested; an unknown dataset is
  NOT_FOUND; GetLineage and StreamLineage with node_table give the same nodes in columns, and
  with edge_table the same edges as positions among the nodes;
* grpc.health.v1.Health/Check answers SERVING;
* server reflection lists tributary.v1.Ingest and tributary.v1.Lineage and serves a file descriptor
  whose methods match the local proto.

Usage: grpc_client.py --url http://127.0.0.1:PORT [--proto-dir proto] [--stubs-dir DIR] [--grpc-target HOST:PORT]
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import importlib  # noqa: E402
import importlib.resources  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2  # noqa: E402
from interop_common import (  # noqa: E402
    HERE,
    Suite,
    base_parser,
    expect,
    expect_equal,
    expect_same_set,
    load_event,
    load_event_text,
    personalize,
    unique_suffix,
    wait_until_up,
)

PROTO_FILE = "tributary/v1/lineage.proto"
# Per-call deadline, in seconds.
DEADLINE = 20


def generate_stubs(proto_dir: Path, stubs_dir: Path) -> tuple[Any, Any]:
    """Run protoc (from grpcio-tools) over the proto and import the generated modules."""
    from grpc_tools import protoc

    stubs_dir.mkdir(parents=True, exist_ok=True)
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    arguments = [
        "grpc_tools.protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={well_known}",
        f"--python_out={stubs_dir}",
        f"--pyi_out={stubs_dir}",
        f"--grpc_python_out={stubs_dir}",
        PROTO_FILE,
    ]
    status = protoc.main(arguments)
    if status != 0:
        print(f"grpc_tools.protoc failed with status {status}: {' '.join(arguments)}", flush=True)
        sys.exit(2)
    sys.path.insert(0, str(stubs_dir))
    importlib.invalidate_caches()
    messages = importlib.import_module("tributary.v1.lineage_pb2")
    services = importlib.import_module("tributary.v1.lineage_pb2_grpc")
    return messages, services


def main() -> None:
    parser = base_parser(__doc__.splitlines()[1])
    parser.add_argument(
        "--proto-dir",
        default=str(HERE.parent.parent / "proto"),
        help="directory holding tributary/v1/lineage.proto (default: the repository's proto/)",
    )
    parser.add_argument(
        "--stubs-dir",
        default=None,
        help="where to write the generated Python stubs (default: a fresh temporary directory)",
    )
    parser.add_argument(
        "--grpc-target",
        default=None,
        help="host:port for gRPC when it is not served on --url's address (default: --url's host:port)",
    )
    args = parser.parse_args()
    base_url = args.url.rstrip("/")
    wait_until_up(base_url)
    # Removed when the program exits, unless the caller chose the directory.
    scratch = None if args.stubs_dir else tempfile.TemporaryDirectory(prefix="tributary-stubs-")
    stubs_dir = Path(args.stubs_dir) if args.stubs_dir else Path(scratch.name)  # type: ignore[union-attr]
    pb, pb_grpc = generate_stubs(Path(args.proto_dir), stubs_dir)

    parsed = urlparse(base_url)
    target = args.grpc_target or f"{parsed.hostname}:{parsed.port}"
    # The server is on loopback: never route to it through an HTTP proxy from the environment.
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
    try:
        grpc.channel_ready_future(channel).result(timeout=DEADLINE)
    except grpc.FutureTimeoutError:
        print(f"interop-grpc: no gRPC (HTTP/2) connection to {target} within {DEADLINE}s", flush=True)
        sys.exit(2)
    ingest = pb_grpc.IngestStub(channel)
    lineage = pb_grpc.LineageStub(channel)
    suite = Suite("interop-grpc")
    suffix = unique_suffix()

    def request(event: dict[str, Any] | str) -> Any:
        text = event if isinstance(event, str) else json.dumps(event)
        return pb.IngestEventRequest(event_json=text)

    def describe(ack: Any) -> str:
        return str(ack).replace("\n", " ").strip()

    def expect_accepted(ack: Any, index: int, duplicate: bool) -> int:
        expect_equal(ack.index, index, f"ack index ({describe(ack)})")
        expect_equal(ack.WhichOneof("result"), "accepted", f"ack {index} result ({describe(ack)})")
        expect(ack.accepted.sequence >= 1, f"ack {index}: sequence is 1-based, got {ack.accepted.sequence}")
        expect_equal(ack.accepted.duplicate, duplicate, f"ack {index} duplicate flag")
        return int(ack.accepted.sequence)

    def expect_rejected(ack: Any, index: int, field_prefix: str | None) -> None:
        expect_equal(ack.index, index, f"ack index ({describe(ack)})")
        expect_equal(ack.WhichOneof("result"), "error", f"ack {index} result ({describe(ack)})")
        expect_equal(ack.error.code, "INVALID_ARGUMENT", f"ack {index} error code")
        expect(bool(ack.error.message), f"ack {index}: error message is empty")
        if field_prefix is not None:
            expect(
                ack.error.field == field_prefix or ack.error.field.startswith(field_prefix + "."),
                f"ack {index}: error field should be {field_prefix!r} or below it, got {ack.error.field!r}",
            )

    simple = personalize(load_event("fluentd_event_simple.json"), suffix)

    simple_sequence: dict[str, int] = {}

    @suite.check("IngestEvent accepts one valid event (index 0, not a duplicate)")
    def _() -> None:
        ack = ingest.IngestEvent(request(simple), timeout=DEADLINE)
        simple_sequence["value"] = expect_accepted(ack, 0, duplicate=False)

    @suite.check("IngestEvent of the same event again is a duplicate with the same sequence")
    def _() -> None:
        ack = ingest.IngestEvent(request(simple), timeout=DEADLINE)
        sequence = expect_accepted(ack, 0, duplicate=True)
        expect_equal(sequence, simple_sequence.get("value"), "sequence of the duplicate")

    start = personalize(load_event("fluentd_test-start.json"), suffix)
    complete = personalize(load_event("fluentd_test-complete.json"), suffix)
    required_only = personalize(load_event("marquez_event_required_only.json"), suffix)
    full = personalize(load_event("client-python_example_full_event.json"), suffix)
    no_run_id = load_event_text("fluentd_event_no_run_id.json")
    bad_run_facet = personalize(load_event("fluentd_event_invalid_run_facet.json"), suffix)
    bad_output_facet = personalize(load_event("fluentd_event_invalid_output_dataset_facet.json"), suffix)
    not_json = '{"eventType": "START", "eventTime": '
    # (payload, expected: ("ok", duplicate) or ("error", field prefix or None))
    stream_plan: list[tuple[Any, tuple[str, Any]]] = [
        (start, ("ok", False)),
        (no_run_id, ("error", "run.runId")),
        (complete, ("ok", False)),
        (bad_run_facet, ("error", "run.facets.parent")),
        (required_only, ("ok", False)),
        (not_json, ("error", None)),
        (bad_output_facet, ("error", "outputs[0].outputFacets.outputStatistics")),
        (full, ("ok", False)),
        (start, ("ok", True)),
        (simple, ("ok", True)),
    ]

    def check_acks(acks: list[Any]) -> None:
        expect_equal(len(acks), len(stream_plan), "number of acks (one per event)")
        fresh_sequences = []
        for index, (ack, (_payload, (outcome, detail))) in enumerate(zip(acks, stream_plan)):
            if outcome == "ok":
                sequence = expect_accepted(ack, index, duplicate=detail)
                if not detail:
                    fresh_sequences.append(sequence)
            else:
                expect_rejected(ack, index, detail)
        first = fresh_sequences[0]
        expect_equal(
            fresh_sequences,
            list(range(first, first + len(fresh_sequences))),
            "sequences of the new events in the stream (dense, in order)",
        )

    @suite.check("IngestStream: one ack per event, in order, right index, INVALID_ARGUMENT with field")
    def _() -> None:
        acks = list(ingest.IngestStream(iter([request(p) for p, _ in stream_plan]), timeout=DEADLINE))
        check_acks(acks)
        expect_equal(acks[8].accepted.sequence, acks[0].accepted.sequence, "duplicate START keeps its sequence")
        expect_equal(acks[9].accepted.sequence, simple_sequence.get("value"), "duplicate of IngestEvent's event")

    @suite.check("IngestStream as a conversation: each ack arrives before the next event is sent")
    def _() -> None:
        outbox: queue.Queue[Any] = queue.Queue()

        def requests() -> Iterator[Any]:
            while True:
                item = outbox.get()
                if item is None:
                    return
                yield item

        call = ingest.IngestStream(requests(), timeout=DEADLINE)
        other = unique_suffix()
        events = [
            personalize(load_event("fluentd_test-start.json"), other),
            load_event_text("fluentd_event_no_run_id.json"),
            personalize(load_event("fluentd_test-complete.json"), other),
        ]
        acks = []
        for event in events:
            outbox.put(request(event))
            acks.append(next(call))
        outbox.put(None)
        rest = list(call)
        expect_equal(len(rest), 0, "acks after the stream was closed")
        expect_accepted(acks[0], 0, duplicate=False)
        expect_rejected(acks[1], 1, "run.runId")
        expect_accepted(acks[2], 2, duplicate=False)

    @suite.check("IngestBatch: summary counts events and lists the rejected one by index")
    def _() -> None:
        other = unique_suffix()
        batch = [
            personalize(load_event("marquez_event_required_only.json"), other),
            load_event_text("fluentd_event_no_run_id.json"),
            personalize(load_event("marquez_event_required_only.json"), other),
        ]
        summary = ingest.IngestBatch(iter([request(e) for e in batch]), timeout=DEADLINE)
        expect_equal(summary.received, 3, "received")
        expect_equal(summary.duplicates, 1, "duplicates")
        expect_equal(len(summary.rejected), 1, f"rejected list ({summary.rejected})")
        expect_rejected(summary.rejected[0], 1, "run.runId")
        expect(summary.watermark.sequence >= 1, f"watermark sequence: {summary.watermark}")

    def node(kind: str, namespace: str, name: str) -> Any:
        return pb.NodeRef(kind=getattr(pb, f"NODE_KIND_{kind}"), namespace=namespace, name=name)

    def key(ref: Any) -> tuple[str, str, str]:
        return (pb.NodeKind.Name(ref.kind).removeprefix("NODE_KIND_"), ref.namespace, ref.name)

    ns = start["job"]["namespace"]  # my-namespace-<suffix>, for jobs and datasets alike
    my_input, my_job, my_output = ("DATASET", ns, "my-input"), ("JOB", ns, "my-job"), ("DATASET", ns, "my-output")

    @suite.check("GetLineage DOWNSTREAM of my-input: the job at 1 and its output at 1")
    def _() -> None:
        answer = lineage.GetLineage(
            pb.LineageRequest(start=node(*my_input), direction=pb.DIRECTION_DOWNSTREAM), timeout=DEADLINE
        )
        got = {key(n.node): n.distance for n in answer.nodes}
        expect_equal(got, {my_input: 0, my_job: 1, my_output: 1}, "nodes and distances")
        edges = [(key(getattr(e, "from")), key(e.to), e.kind) for e in answer.edges]
        expect_same_set(edges, [(my_input, my_job, "READS"), (my_job, my_output, "WRITES")], "edges")
        expect_equal(answer.truncated, False, "truncated")
        expect(answer.watermark.sequence >= 1, f"watermark: {answer.watermark}")

    @suite.check("GetLineage and StreamLineage with node_table: the same nodes in columns")
    def _() -> None:
        asked = pb.LineageRequest(start=node(*my_input), direction=pb.DIRECTION_DOWNSTREAM, node_table=True)

        def table_nodes(table: Any) -> dict[tuple[str, str, str], int]:
            expect_equal(
                (len(table.namespace), len(table.kinds), len(table.distances)),
                (len(table.names),) * 3,
                "column lengths",
            )
            expect_equal(len(set(table.namespaces)), len(table.namespaces), "each namespace once")
            return {
                (pb.NodeKind.Name(kind).removeprefix("NODE_KIND_"), table.namespaces[at], name): distance
                for kind, at, name, distance in zip(table.kinds, table.namespace, table.names, table.distances)
            }

        answer = lineage.GetLineage(asked, timeout=DEADLINE)
        expect_equal(len(answer.nodes), 0, "node messages beside the table")
        expect_equal(table_nodes(answer.node_table), {my_input: 0, my_job: 1, my_output: 1}, "nodes in the table")
        expect_equal(len(answer.edges), 2, "edges still as messages")
        streamed: dict[tuple[str, str, str], int] = {}
        for chunk in lineage.StreamLineage(asked, timeout=DEADLINE):
            expect_equal(len(chunk.nodes), 0, "node messages in a chunk")
            streamed.update(table_nodes(chunk.node_table))
        expect_equal(streamed, {my_input: 0, my_job: 1, my_output: 1}, "nodes in the chunks' tables")

    @suite.check("GetLineage and StreamLineage with edge_table: the same edges as positions among the nodes")
    def _() -> None:
        expected = {(my_input, my_job, "READS"), (my_job, my_output, "WRITES")}

        def in_order(messages: Any, table: Any) -> list[tuple[str, str, str]]:
            listed = [key(n.node) for n in messages]
            listed += [
                (pb.NodeKind.Name(kind).removeprefix("NODE_KIND_"), table.namespaces[at], name)
                for kind, at, name in zip(table.kinds, table.namespace, table.names)
            ]
            return listed

        def table_edges(table: Any, nodes: list[tuple[str, str, str]]) -> set[tuple[Any, Any, str]]:
            # `from` is a Python keyword: the generated message has the field all the same.
            starts = getattr(table, "from")
            expect_equal((len(table.to), len(table.kinds)), (len(starts),) * 2, "edge column lengths")
            return {
                (nodes[a], nodes[b], pb.EdgeKind.Name(kind).removeprefix("EDGE_KIND_"))
                for a, b, kind in zip(starts, table.to, table.kinds)
            }

        for node_table in (False, True):
            asked = pb.LineageRequest(
                start=node(*my_input), direction=pb.DIRECTION_DOWNSTREAM, node_table=node_table, edge_table=True
            )
            answer = lineage.GetLineage(asked, timeout=DEADLINE)
            expect_equal(len(answer.edges), 0, "edge messages beside the table")
            nodes = in_order(answer.nodes, answer.node_table)
            expect_equal(table_edges(answer.edge_table, nodes), expected, f"edges in the table, node_table {node_table}")
            nodes, tables = [], []
            for chunk in lineage.StreamLineage(asked, timeout=DEADLINE):
                expect_equal(len(chunk.edges), 0, "edge messages in a chunk")
                nodes += in_order(chunk.nodes, chunk.node_table)
                tables.append(chunk.edge_table)
            streamed = set().union(*(table_edges(table, nodes) for table in tables))
            expect_equal(streamed, expected, f"edges in the chunks' tables, node_table {node_table}")

    @suite.check("GetLineage UPSTREAM of the simple event's output (direction UNSPECIFIED is DOWNSTREAM)")
    def _() -> None:
        sns = simple["outputs"][0]["namespace"]
        output = ("DATASET", sns, "instance.schema.output-1")
        job = ("JOB", simple["job"]["namespace"], "myjob")
        inputs = [("DATASET", sns, "instance.schema.input-1"), ("DATASET", sns, "instance.schema.input-2")]
        answer = lineage.GetLineage(
            pb.LineageRequest(start=node(*output), direction=pb.DIRECTION_UPSTREAM), timeout=DEADLINE
        )
        got = {key(n.node): n.distance for n in answer.nodes}
        expect_equal(got, {output: 0, job: 1, inputs[0]: 1, inputs[1]: 1}, "upstream nodes and distances")
        downstream = lineage.GetLineage(pb.LineageRequest(start=node(*inputs[0])), timeout=DEADLINE)
        got = {key(n.node): n.distance for n in downstream.nodes}
        expect_equal(got, {inputs[0]: 0, job: 1, output: 1}, "nodes with direction left unspecified")

    @suite.check("GetDataset my-output: facets, current schema and producer as ingested")
    def _() -> None:
        dataset = lineage.GetDataset(pb.GetDatasetRequest(namespace=ns, name="my-output"), timeout=DEADLINE)
        expect_equal((dataset.namespace, dataset.name), (ns, "my-output"), "namespace and name")
        facets = json.loads(dataset.facets_json)
        sent_schema = complete["outputs"][0]["facets"]["schema"]
        expect_equal(facets.get("schema"), sent_schema, "schema facet in facets_json")
        expect_equal(
            [(f.name, f.type) for f in dataset.current_schema.fields],
            [(f["name"], f["type"]) for f in sent_schema["fields"]],
            "current_schema fields",
        )
        expect(len(dataset.schema_versions) >= 1, "schema_versions is empty")
        expect_same_set([key(p) for p in dataset.producers], [my_job], "producers")

    @suite.check("GetDataset of an unknown dataset is NOT_FOUND")
    def _() -> None:
        try:
            lineage.GetDataset(pb.GetDatasetRequest(namespace=ns, name="no-such-dataset"), timeout=DEADLINE)
        except grpc.RpcError as error:
            expect_equal(error.code(), grpc.StatusCode.NOT_FOUND, f"status ({error.details()})")
        else:
            raise AssertionError("GetDataset of an unknown dataset succeeded; expected NOT_FOUND")

    @suite.check("grpc.health.v1.Health/Check answers SERVING")
    def _() -> None:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE)
        expect_equal(
            health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status), "SERVING", "overall health"
        )

    @suite.check("server reflection lists tributary.v1.Ingest and serves a matching descriptor")
    def _() -> None:
        served_by, services, descriptor_files = reflect(channel, "tributary.v1.Ingest")
        print(f"     (reflection served by {served_by})", flush=True)
        expect("tributary.v1.Ingest" in services, f"list_services has no tributary.v1.Ingest: {services}")
        expect("tributary.v1.Lineage" in services, f"list_services has no tributary.v1.Lineage: {services}")
        remote = {}
        for blob in descriptor_files:
            proto = descriptor_pb2.FileDescriptorProto.FromString(blob)
            if proto.package == "tributary.v1":
                for service in proto.service:
                    remote[service.name] = sorted(m.name for m in service.method)
        local = {
            service.name: sorted(m.name for m in service.methods)
            for service in pb.DESCRIPTOR.services_by_name.values()
        }
        expect_equal(remote, local, "services and methods: reflection vs local proto")

    channel.close()
    suite.finish()


REFLECTION_SERVICES = ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")


def reflect(channel: grpc.Channel, symbol: str) -> tuple[str, list[str], list[bytes]]:
    """List services and fetch the file defining `symbol`, over reflection v1 or else v1alpha.

    The two versions have the same messages on the wire, so the v1alpha classes that grpcio-reflection
    ships serve for both."""
    last_error: Exception | None = None
    for service in REFLECTION_SERVICES:
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol),
        ]
        try:
            answers = list(call(iter(requests), timeout=DEADLINE))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                last_error = error
                continue
            raise
        expect_equal(len(answers), 2, f"{service}: number of answers")
        listed = answers[0]
        expect(
            listed.WhichOneof("message_response") == "list_services_response",
            f"{service}: first answer is not a service list: {listed}",
        )
        names = [s.name for s in listed.list_services_response.service]
        found = answers[1]
        expect(
            found.WhichOneof("message_response") == "file_descriptor_response",
            f"{service}: file_containing_symbol({symbol}) answered {found}",
        )
        return service, names, list(found.file_descriptor_response.file_descriptor_proto)
    raise AssertionError(f"neither reflection v1 nor v1alpha is served: {last_error}")


if __name__ == "__main__":
    main()
