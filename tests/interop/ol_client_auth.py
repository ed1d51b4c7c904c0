#!/usr/bin/env python3
"""Interop: the official OpenLineage Python client sending with tokens (its ApiKeyTokenProvider).

Against a fresh server (open until its first token): makes an admin token and an ingest token
limited to one job namespace and one dataset namespace over GraphQL, then emits with
`OpenLineageClient` + `HttpTransport` (`auth: {type: api_key}`) and checks:

* an event within the token's grant is accepted and stored, attributed to the token in the
  audit trail;
* the same client without a token gets HTTP 401 (raised by the client), nothing stored;
* an event writing outside the grant gets HTTP 403 naming the missing scope, nothing stored;
* a revoked token gets 401 on its next event.

Usage: ol_client_auth.py --url http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import requests  # noqa: E402
from interop_common import Suite, base_parser, expect, expect_equal, unique_suffix, wait_until_up  # noqa: E402
from openlineage.client import OpenLineageClient  # noqa: E402
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState  # noqa: E402
from openlineage.client.transport.http import HttpConfig, HttpTransport  # noqa: E402
from openlineage.client.uuid import generate_new_uuid  # noqa: E402

PRODUCER = "https://github.com/tributary/interop-suite"
TIMEOUT = 15


def graphql(base_url: str, token: str | None, query: str, variables: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(
        f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=TIMEOUT
    )
    return response.json()


def create_token(base_url: str, admin: str | None, name: str, scopes: list[str]) -> tuple[str, str]:
    document = graphql(
        base_url,
        admin,
        "mutation($n: String!, $s: [String!]!) { createToken(name: $n, scopes: $s) { token details { id } } }",
        {"n": name, "s": scopes},
    )
    expect(not document.get("errors"), f"createToken {name}: {document}")
    created = document["data"]["createToken"]
    return created["token"], created["details"]["id"]


def client(base_url: str, token: str | None) -> OpenLineageClient:
    settings = {"url": base_url, "endpoint": "api/v1/lineage", "timeout": TIMEOUT}
    if token is not None:
        settings["auth"] = {"type": "api_key", "apiKey": token}
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(settings)))


def event(job_ns: str, output_ns: str, name: str) -> RunEvent:
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2024-05-01T10:00:00.000Z",
        run=Run(runId=str(generate_new_uuid())),
        job=Job(namespace=job_ns, name="load"),
        producer=PRODUCER,
        inputs=[InputDataset(namespace="payments-db", name="charges")],
        outputs=[OutputDataset(namespace=output_ns, name=name)],
    )


def stored(base_url: str, admin: str, namespace: str, name: str) -> bool:
    document = graphql(
        base_url,
        admin,
        "query($ns: String!, $n: String!) { dataset(namespace: $ns, name: $n) { name } }",
        {"ns": namespace, "n": name},
    )
    expect(not document.get("errors"), f"dataset lookup: {document}")
    return document["data"]["dataset"] is not None


def status_of(call) -> int:
    try:
        call()
    except requests.HTTPError as error:
        return error.response.status_code
    return 200


def main() -> None:
    args = base_parser(__doc__.splitlines()[1]).parse_args()
    base_url = args.url.rstrip("/")
    wait_until_up(base_url)
    suite = Suite("interop-ol-auth")
    suffix = unique_suffix()
    job_ns, own_ns, other_ns = f"airflow-{suffix}", f"sales-{suffix}", f"finance-{suffix}"
    admin, _ = create_token(base_url, None, "interop-admin", ["admin"])
    ingest, ingest_id = create_token(
        base_url, admin, "interop-airflow", [f"ingest@jobs={job_ns};datasets={own_ns}", "read"]
    )

    @suite.check("a token within its grant: accepted, stored, attributed")
    def _() -> None:
        client(base_url, ingest).emit(event(job_ns, own_ns, "orders"))
        expect(stored(base_url, admin, own_ns, "orders"), "the accepted event's output is not stored")
        document = graphql(
            base_url,
            admin,
            "query($a: String) { auditLog(actor: $a, kinds: [\"EVENT_STORED\"]) { entries { actorName tokenId } } }",
            {"a": ingest_id},
        )
        entries = document["data"]["auditLog"]["entries"]
        expect_equal(len(entries), 1, "audit entries of the ingest token")
        expect_equal(entries[0]["actorName"], "interop-airflow", "audited actor")

    @suite.check("no token: HTTP 401, nothing stored")
    def _() -> None:
        status = status_of(lambda: client(base_url, None).emit(event(job_ns, own_ns, "anonymous")))
        expect_equal(status, 401, "status without a token")
        expect(not stored(base_url, admin, own_ns, "anonymous"), "a refused event was stored")

    @suite.check("outside the grant: HTTP 403 naming the missing scope, nothing stored")
    def _() -> None:
        try:
            client(base_url, ingest).emit(event(job_ns, other_ns, "ledger"))
            expect(False, "an event outside the grant was accepted")
        except requests.HTTPError as error:
            expect_equal(error.response.status_code, 403, "status outside the grant")
            body = error.response.json()
            expect_equal(body["error"]["code"], "PERMISSION_DENIED", "error code")
            expect(f"datasets={other_ns}" in body["error"]["message"], f"missing scope not named: {body}")
        expect(not stored(base_url, admin, other_ns, "ledger"), "a refused event was stored")

    @suite.check("a revoked token: HTTP 401 on its next event")
    def _() -> None:
        document = graphql(base_url, admin, "mutation($id: String!) { revokeToken(id: $id) { revokedAt } }", {"id": ingest_id})
        expect(document["data"]["revokeToken"]["revokedAt"], f"not revoked: {document}")
        status = status_of(lambda: client(base_url, ingest).emit(event(job_ns, own_ns, "after_revoke")))
        expect_equal(status, 401, "status with a revoked token")

    suite.finish()


if __name__ == "__main__":
    main()
