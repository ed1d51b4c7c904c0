#!/usr/bin/env python3
"""Interop: the official OpenLineage Python client (openlineage-python) over Kafka.

Emits a generated pipeline through `OpenLineageClient` configured with the `kafka` transport (the
same dict a user puts in openlineage.yml: `{"type": "kafka", "topic": ..., "config":
{"bootstrap.servers": ...}, "flush": true}`), which produces with confluent-kafka (librdkafka).
Run `--runs` runs, each a START and a COMPLETE event, round-robin over a fixed set of jobs. Each job
reads one to three datasets and writes one or two, with schema facets on every dataset and column
lineage facets on every output. The job graph and the schemas depend only on `--namespace`, so
later calls with `--first-run` continue the same pipeline. Between the events the script also
writes raw records with confluent-kafka directly, to chosen partitions. These are invalid values
(not JSON, JSON that is not an event, an event without a runId, bytes that are not UTF-8, an empty
value, a tombstone) and exact copies of earlier events.

Every record goes to `--records-out` as a JSON line:
`{"kind": "event"|"duplicate"|"invalid", "partition", "offset", "key", "value"}` (`value` is the
text, or null for a tombstone or bytes that are not UTF-8; `reason` names the kind of invalid value).
The last stdout line is a JSON summary: `{"topic", "partitions", "events", "duplicates",
"invalid", "end_offsets"}`. `end_offsets` is the broker's high watermark per partition after
producing.

`--consume-check` reads the whole topic back with a confluent-kafka consumer (group-less, from the
earliest offset) and checks that it holds exactly `end_offsets` records. It is a smoke test of the
broker on its own.

Usage: ol_client_kafka.py --bootstrap 127.0.0.1:PORT --topic NAME --namespace NS --runs N
       [--first-run K] [--invalid-every M] [--duplicate-every D] [--pause-every P --pause-ms MS]
       [--records-out FILE] [--consume-check]
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any, Callable  # noqa: E402

import confluent_kafka  # noqa: E402
from openlineage.client import OpenLineageClient  # noqa: E402
from openlineage.client.event_v2 import (  # noqa: E402
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.generated import column_lineage_dataset, schema_dataset  # noqa: E402

PRODUCER = "https://github.com/tributary/tributary/tree/main/tests/interop/ol_client_kafka.py"
N_SOURCES = 8
N_JOBS = 24
START_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
# The kinds of invalid record, written in turn.
INVALID_KINDS = ["not-json", "not-an-event", "no-run-id", "not-utf8", "empty", "tombstone"]
TIMEOUT = 30.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="bootstrap.servers, e.g. 127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--namespace", required=True, help="job namespace; datasets go to NAMESPACE-db")
    parser.add_argument("--runs", type=int, default=0, help="runs to emit (two events each)")
    parser.add_argument("--first-run", type=int, default=0, help="number of the first run")
    parser.add_argument("--invalid-every", type=int, default=0, help="an invalid record after every M events")
    parser.add_argument("--duplicate-every", type=int, default=0, help="a copy of an earlier event every D events")
    parser.add_argument("--pause-every", type=int, default=0, help="sleep --pause-ms after every P events")
    parser.add_argument("--pause-ms", type=int, default=0)
    parser.add_argument("--no-flush", action="store_true", help='transport "flush": false (flush once at the end)')
    parser.add_argument("--records-out", help="write every record (JSON lines) here")
    parser.add_argument("--consume-check", action="store_true", help="read the topic back and count its records")
    return parser.parse_args()


class Pipeline:
    """The jobs and datasets of one namespace: a layered graph fixed by the namespace alone."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.dataset_namespace = f"{namespace}-db"
        rng = random.Random(f"tributary-kafka/{namespace}")
        available = [f"source_{index}" for index in range(N_SOURCES)]
        self.jobs: list[tuple[str, list[str], list[str]]] = []
        for job_index in range(N_JOBS):
            inputs = sorted(rng.sample(available, k=min(len(available), rng.randint(1, 3))))
            outputs = [f"table_{job_index}_{k}" for k in range(rng.randint(1, 2))]
            self.jobs.append((f"job_{job_index}", inputs, outputs))
            available.extend(outputs)

    def schema(self, dataset: str) -> schema_dataset.SchemaDatasetFacet:
        return schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name="id", type="BIGINT"),
                schema_dataset.SchemaDatasetFacetFields(name="amount", type="DECIMAL(18,2)"),
                schema_dataset.SchemaDatasetFacetFields(name=f"{dataset}_note", type="VARCHAR"),
            ]
        )

    def column_lineage(self, inputs: list[str]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
        def field(dataset: str, name: str, kind: str, subtype: str) -> column_lineage_dataset.InputField:
            return column_lineage_dataset.InputField(
                namespace=self.dataset_namespace,
                name=dataset,
                field=name,
                transformations=[column_lineage_dataset.Transformation(type=kind, subtype=subtype)],
            )

        return column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                "id": column_lineage_dataset.Fields(inputFields=[field(inputs[0], "id", "DIRECT", "IDENTITY")]),
                "amount": column_lineage_dataset.Fields(
                    inputFields=[field(name, "amount", "DIRECT", "AGGREGATION") for name in inputs]
                    + [field(inputs[-1], "id", "INDIRECT", "JOIN")]
                ),
            }
        )

    def event(self, run_number: int, state: RunState) -> RunEvent:
        job_name, inputs, outputs = self.jobs[run_number % len(self.jobs)]
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tributary-kafka/{self.namespace}/run/{run_number}"))
        seconds = 2 * run_number + (1 if state == RunState.COMPLETE else 0)
        return RunEvent(
            eventType=state,
            eventTime=(START_TIME + dt.timedelta(seconds=seconds)).isoformat(),
            run=Run(runId=run_id),
            job=Job(namespace=self.namespace, name=job_name),
            producer=PRODUCER,
            inputs=[
                InputDataset(namespace=self.dataset_namespace, name=name, facets={"schema": self.schema(name)})
                for name in inputs
            ],
            outputs=[
                OutputDataset(
                    namespace=self.dataset_namespace,
                    name=name,
                    facets={"schema": self.schema(name), "columnLineage": self.column_lineage(inputs)},
                )
                for name in outputs
            ],
        )


class RecordingProducer:
    """Stands in for the KafkaTransport's confluent-kafka producer: passes every call on and keeps
    each record's exact value with the partition and offset the broker gave it."""

    def __init__(self, inner: Any, on_record: Callable[[Any], None]) -> None:
        self._inner = inner
        self._on_record = on_record

    def produce(self, topic: str, key: Any = None, value: Any = None, on_delivery: Any = None, **kwargs: Any) -> None:
        def delivered(error: Any, message: Any) -> None:
            self._on_record(message if error is None else error)
            if on_delivery is not None:
                on_delivery(error, message)

        self._inner.produce(topic=topic, key=key, value=value, on_delivery=delivered, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def invalid_value(kind: str, namespace: str, index: int) -> bytes | None:
    if kind == "not-json":
        return f"this is not JSON ({index})".encode()
    if kind == "not-an-event":
        return json.dumps({"hello": "world", "index": index}).encode()
    if kind == "no-run-id":
        return json.dumps(
            {
                "eventType": "START",
                "eventTime": START_TIME.isoformat(),
                "producer": PRODUCER,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {},
                "job": {"namespace": namespace, "name": f"broken_{index}"},
            }
        ).encode()
    if kind == "not-utf8":
        return b"\xff\xfe\x00not utf-8 " + str(index).encode()
    if kind == "empty":
        return b""
    if kind == "tombstone":
        return None
    raise ValueError(kind)


def main() -> None:
    args = parse_args()
    pipeline = Pipeline(args.namespace)
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    # Values of the events delivered so far: a value seen before is a duplicate. A copy is of an
    # event of the same job, so it has the same key and partition as its original and is delivered
    # after it.
    delivered_values: set[bytes] = set()

    def on_record(message: Any) -> None:
        if isinstance(message, confluent_kafka.KafkaError):
            errors.append(f"event not delivered: {message}")
            return
        value = message.value()
        kind = "duplicate" if value in delivered_values else "event"
        delivered_values.add(value)
        records.append(record_json(kind, message, value))

    client = OpenLineageClient(
        config={
            "transport": {
                "type": "kafka",
                "topic": args.topic,
                "config": {"bootstrap.servers": args.bootstrap, "client.id": "tributary-interop-kafka"},
                "flush": not args.no_flush,
            }
        }
    )
    transport = client.transport
    transport.producer = RecordingProducer(transport.producer, on_record)

    raw = confluent_kafka.Producer({"bootstrap.servers": args.bootstrap, "client.id": "tributary-interop-raw"})
    n_partitions = partition_count(raw, args.topic)

    def produce_raw(kind: str, value: bytes | None, key: bytes, partition: int, reason: str | None = None) -> None:
        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                errors.append(f"raw {kind} not delivered: {error}")
            else:
                records.append(record_json(kind, message, value, reason))

        raw.produce(args.topic, value=value, key=key, partition=partition, on_delivery=delivered)
        raw.flush(TIMEOUT)

    emitted: list[RunEvent] = []
    n_events = 0
    n_invalid = 0
    n_duplicates = 0
    started = time.monotonic()
    for run_number in range(args.first_run, args.first_run + args.runs):
        for state in (RunState.START, RunState.COMPLETE):
            event = pipeline.event(run_number, state)
            # The transport serializes the event itself; the recorder keeps what it sent.
            client.emit(event)
            emitted.append(event)
            n_events += 1
            if args.duplicate_every and n_events % args.duplicate_every == 0:
                client.emit(emitted[len(emitted) // 2])
                n_duplicates += 1
            if args.invalid_every and n_events % args.invalid_every == 0:
                kind = INVALID_KINDS[n_invalid % len(INVALID_KINDS)]
                key = f"invalid-{args.first_run}-{n_invalid}".encode()
                value = invalid_value(kind, args.namespace, n_invalid)
                produce_raw("invalid", value, key, n_invalid % n_partitions, reason=kind)
                n_invalid += 1
            if args.pause_every and n_events % args.pause_every == 0:
                time.sleep(args.pause_ms / 1000)
    if not client.close(TIMEOUT):
        errors.append("the transport did not deliver every event within the timeout")
    raw.flush(TIMEOUT)
    elapsed = time.monotonic() - started

    if errors:
        print("\n".join(errors), file=sys.stderr, flush=True)
        sys.exit(1)
    expected_records = n_events + n_duplicates + n_invalid
    if len(records) != expected_records:
        print(f"{len(records)} records delivered, {expected_records} produced", file=sys.stderr, flush=True)
        sys.exit(1)

    if args.records_out:
        with open(args.records_out, "w", encoding="utf-8") as handle:
            for record in sorted(records, key=lambda record: (record["partition"], record["offset"])):
                handle.write(json.dumps(record) + "\n")

    end_offsets = high_watermarks(args.bootstrap, args.topic, n_partitions)
    print(
        f"produced {n_events} events, {n_duplicates} duplicates and {n_invalid} invalid records "
        f"to {args.topic} ({n_partitions} partitions) in {elapsed:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    if args.consume_check:
        consume_check(args.bootstrap, args.topic, end_offsets)
    summary = {
        "topic": args.topic,
        "partitions": n_partitions,
        "events": n_events,
        "duplicates": n_duplicates,
        "invalid": n_invalid,
        "end_offsets": end_offsets,
    }
    print(json.dumps(summary), flush=True)


def record_json(kind: str, message: Any, value: bytes | None, reason: str | None = None) -> dict[str, Any]:
    value = message.value() if value is None else value
    try:
        text = None if value is None else value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    key = message.key()
    record = {
        "kind": kind,
        "partition": message.partition(),
        "offset": message.offset(),
        "key": None if key is None else key.decode("utf-8", "replace"),
        "value": text,
    }
    if reason is not None:
        record["reason"] = reason
    return record


def partition_count(producer: confluent_kafka.Producer, topic: str) -> int:
    metadata = producer.list_topics(topic, timeout=TIMEOUT)
    partitions = metadata.topics[topic].partitions
    if not partitions:
        print(f"topic {topic} has no partitions: {metadata.topics[topic].error}", file=sys.stderr, flush=True)
        sys.exit(1)
    return len(partitions)


def consumer(bootstrap: str) -> confluent_kafka.Consumer:
    return confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"tributary-interop-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def high_watermarks(bootstrap: str, topic: str, n_partitions: int) -> list[int]:
    reader = consumer(bootstrap)
    try:
        return [
            reader.get_watermark_offsets(confluent_kafka.TopicPartition(topic, partition), timeout=TIMEOUT)[1]
            for partition in range(n_partitions)
        ]
    finally:
        reader.close()


def consume_check(bootstrap: str, topic: str, end_offsets: list[int]) -> None:
    reader = consumer(bootstrap)
    reader.assign(
        [
            confluent_kafka.TopicPartition(topic, partition, confluent_kafka.OFFSET_BEGINNING)
            for partition in range(len(end_offsets))
        ]
    )
    seen = [0] * len(end_offsets)
    next_offset = [0] * len(end_offsets)
    deadline = time.monotonic() + 60
    while seen != end_offsets and time.monotonic() < deadline:
        message = reader.poll(1.0)
        if message is None:
            continue
        if message.error():
            print(f"consume error: {message.error()}", file=sys.stderr, flush=True)
            continue
        partition = message.partition()
        if message.offset() != next_offset[partition]:
            print(
                f"partition {partition}: offset {message.offset()} after {next_offset[partition] - 1}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(1)
        next_offset[partition] = message.offset() + 1
        seen[partition] += 1
    reader.close()
    if seen != end_offsets:
        print(f"consumed {seen} records per partition, end offsets {end_offsets}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"consumed back {sum(seen)} records, offsets dense from 0", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
