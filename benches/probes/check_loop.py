"""A review bot that keeps checking one change: reads the current schema of a dataset over
GraphQL, drops its first column, and asks `checkChange` for that proposal again and again
(one client) until DURATION seconds pass or STOP_FILE appears; then prints how many checks it
made, their latency (median, longest) and the impact count of the first answer. Run beside an
ingest load to see whether on-demand checks of a hub hold up the writer's acknowledgements.
usage: check_loop.py PORT NAMESPACE NAME DURATION [STOP_FILE]"""
import json
import os
import sys
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
check = """query($ds: DatasetInput!, $schema: String!) {
  checkChange(dataset: $ds, schema: $schema) { verdict changes { impactCount } } }"""
took, first = [], None
ends = time.monotonic() + duration
while time.monotonic() < ends and not (stop_file and os.path.exists(stop_file)):
    sent = time.monotonic()
    answer = graphql(check, {"ds": {"namespace": namespace, "name": name}, "schema": proposed})
    took.append(time.monotonic() - sent)
    if first is None:
        first = answer["checkChange"]
took.sort()
if took:
    print(f"checks of {namespace}:{name} dropping `{current[0].get('name')}`: {len(took)}, "
          f"median {took[len(took) // 2] * 1000:.0f} ms, longest {took[-1] * 1000:.0f} ms; first answer {first}")
else:
    print("check_loop: no check made")
