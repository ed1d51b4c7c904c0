"""A user who keeps asking for one dataset's downstream lineage over GraphQL (one client) until
DURATION seconds pass or STOP_FILE appears; then prints how many answers it got, their latency
(median, longest) and the size of the first. SHAPE picks the question: `closure` (every node
with its edges, limit 1,000,000), `datasets` (dataset nodes only, no edges) or `summary`
(impactSummary: counts, groups and the first page) or `columns` (columnLineage of its column
COLUMN, `id` unless set, limit 1,000,000) or `products` (productLineage with the dataset links:
NAMESPACE and NAME are not used; apply a mesh first, apply_mesh.py) or `search` (a text search
that matches no name, so every name is scanned) or `listing` (datasets(search:) matching no name). Run beside an ingest load to see whether
long walks hold up the writer's acknowledgements.
usage: lineage_loop.py PORT NAMESPACE NAME DURATION SHAPE [STOP_FILE]"""
import json
import os
import sys
import time
import urllib.request

port, namespace, name, duration, shape = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
stop_file = sys.argv[6] if len(sys.argv) > 6 else None
url = f"http://127.0.0.1:{port}/graphql"
START = "start: {kind: DATASET, namespace: $ns, name: $n}, direction: DOWNSTREAM"
QUERIES = {
    "closure": f"""query($ns: String!, $n: String!) {{ lineage({START}, limit: 1000000) {{
        nodes {{ kind namespace name distance }} edges {{ from {{ name }} to {{ name }} kind }} truncated }} }}""",
    "datasets": f"""query($ns: String!, $n: String!) {{ lineage({START}, limit: 1000000, datasetsOnly: true) {{
        nodes {{ namespace name distance }} truncated }} }}""",
    "summary": f"""query($ns: String!, $n: String!) {{ impactSummary({START}, limit: 1000000, first: 100) {{
        datasetCount jobCount truncated groups {{ datasetCount }} nodes {{ name }} }} }}""",
    "columns": f"""query($ns: String!, $n: String!) {{ columnLineage(dataset: {{namespace: $ns, name: $n}},
        field: "{os.environ.get('COLUMN', 'id')}", direction: DOWNSTREAM, limit: 1000000) {{
        columns {{ column {{ name field }} distance }} unverified {{ dataset {{ name }} }} truncated }} }}""",
    "products": "query { productLineage { from to via { from { name } to { name } } } }",
    "search": "query { search(text: \"zzzz_no_such_name\", first: 50) { results { product } } }",
    "listing": "query { datasets(search: \"zzzz_no_such_name\", first: 50) { nodes { name } } }",
}
if shape not in QUERIES:
    raise SystemExit(f"lineage_loop: SHAPE must be one of {sorted(QUERIES)}")


def size(data):
    answer = next(iter(data.values()))
    if "results" in answer:
        return f"{len(answer['results'])} results"
    if "nodes" in answer and "truncated" not in answer and "datasetCount" not in answer:
        return f"{len(answer['nodes'])} datasets listed"
    if isinstance(answer, list):
        return f"{len(answer)} product edges, {sum(len(edge['via']) for edge in answer)} links"
    if "columns" in answer:
        return f"{len(answer['columns'])} columns, {len(answer['unverified'])} unverified"
    if "nodes" in answer and "datasetCount" not in answer:
        return f"{len(answer['nodes'])} nodes, {len(answer.get('edges', []))} edges"
    return f"{answer['datasetCount']} datasets, {answer['jobCount']} jobs"


took, first = [], None
ends = time.monotonic() + duration
variables = {} if shape in ("products", "search", "listing") else {"ns": namespace, "n": name}
body = json.dumps({"query": QUERIES[shape], "variables": variables}).encode()
while time.monotonic() < ends and not (stop_file and os.path.exists(stop_file)):
    sent = time.monotonic()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
    took.append(time.monotonic() - sent)
    if answer.get("errors"):
        raise SystemExit(f"lineage_loop: {answer['errors']}")
    if first is None:
        first = size(answer["data"])
took.sort()
if took:
    print(f"{shape} lineage of {namespace}:{name}: {len(took)} answers, "
          f"median {took[len(took) // 2] * 1000:.0f} ms, longest {took[-1] * 1000:.0f} ms; first {first}")
else:
    print("lineage_loop: no answer")
