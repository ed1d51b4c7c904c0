"""A review bot that keeps checking one change: reads the current schema of a dataset over
GraphQL, drops its first column, and asks `checkChange` for that proposal again and again
(one client) until DURATION seconds pass or STOP_FILE appears; then prints how many checks it
made, their latency (median, longest) and the impact count of the first answer. Run beside an
ingest load to see whether on-demand checks of a hub hold up the writer's acknowledgements.
CHECK_SELECTION sets what the bot asks of `checkChange` (default `verdict changes { impactCount }`;
a bot posting the report asks `verdict markdown json`). With CHECK_CLI=path/to/tributary the bot
runs `tributary check --output json` (gRPC, as in CI) instead, one process a check.
usage: check_loop.py PORT NAMESPACE NAME DURATION [STOP_FILE]"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

port, namespace, name, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
stop_file = sys.argv[5] if len(sys.argv) > 5 else None
url = f"http://127.0.0.1:{port}/graphql"


def graphql(query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
    if answer.get("errors"):
        raise SystemExit(f"check_loop: {answer['errors']}")
    return answer["data"]


current = graphql(
    "query($ns: String!, $n: String!) { dataset(namespace: $ns, name: $n) { currentSchema { rawFields } } }",
    {"ns": namespace, "n": name},
)["dataset"]["currentSchema"]["rawFields"]
proposed = json.dumps({"fields": current[1:]})
selection = os.environ.get("CHECK_SELECTION", "verdict changes { impactCount }")
check = """query($ds: DatasetInput!, $schema: String!) {
  checkChange(dataset: $ds, schema: $schema) { %s } }""" % selection
cli = os.environ.get("CHECK_CLI")
if cli:
    schema_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    schema_file.write(proposed)
    schema_file.close()


def check_once():
    if not cli:
        return graphql(check, {"ds": {"namespace": namespace, "name": name}, "schema": proposed})["checkChange"]
    done = subprocess.run([cli, "check", "--server", f"http://127.0.0.1:{port}", "--namespace", namespace,
                           "--name", name, "--schema", schema_file.name, "--output", "json", "--fail-on", "never"],
                          capture_output=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"check_loop: tributary check failed: {done.stderr.decode()[:500]}")
    report = json.loads(done.stdout)
    return {"verdict": report["verdict"], "changes": [{"impactCount": c["impactCount"]} for c in report["changes"]],
            "bytes": len(done.stdout)}


took, first = [], None
ends = time.monotonic() + duration
while time.monotonic() < ends and not (stop_file and os.path.exists(stop_file)):
    sent = time.monotonic()
    answer = check_once()
    took.append(time.monotonic() - sent)
    if first is None:
        first = {key: value for key, value in answer.items() if key not in ("json", "markdown")}
        first.update({key: f"{len(json.dumps(answer[key]))} bytes" for key in ("json", "markdown") if key in answer})
took.sort()
if took:
    print(f"checks of {namespace}:{name} dropping `{current[0].get('name')}`: {len(took)}, "
          f"median {took[len(took) // 2] * 1000:.0f} ms, longest {took[-1] * 1000:.0f} ms; first answer {first}")
else:
    print("check_loop: no check made")
