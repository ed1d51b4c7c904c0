"""A crowd asking for product lineage at once: CLIENTS processes (each its own interpreter, so
none waits for another's parsing) loop `productLineage { from to }` over GraphQL for DURATION
seconds; then prints the answers, their latency (median, p90, longest) and the server's
derivations in that time (`tributary_product_lineage_cache_total{outcome="miss"}`, read from
/metrics before and after), and its CPU seconds when PID is given. Run beside an ingest load
(post_http.py), which moves the graph between any two questions, to see what a crowd costs.
usage: mesh_crowd.py PORT CLIENTS DURATION [PID]"""
import json
import multiprocessing
import sys
import time
import urllib.request

port, clients, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pid = sys.argv[4] if len(sys.argv) > 4 else None
base = f"http://127.0.0.1:{port}"
BODY = json.dumps({"query": "query { productLineage { from to } }"}).encode()


def derivations():
    text = urllib.request.urlopen(f"{base}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith("tributary_product_lineage_cache_total{") and 'miss' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def cpu_seconds():
    if pid is None:
        return 0.0
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def client(_):
    took, edges = [], 0
    ends = time.monotonic() + duration
    while time.monotonic() < ends:
        sent = time.monotonic()
        request = urllib.request.Request(f"{base}/graphql", data=BODY, headers={"content-type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=600).read())
        if "errors" in answer:
            raise SystemExit(f"mesh_crowd: {answer['errors']}")
        took.append(time.monotonic() - sent)
        edges = len(answer["data"]["productLineage"])
    return took, edges


if __name__ == "__main__":
    before, cpu_before = derivations(), cpu_seconds()
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(client, range(clients))
    after, cpu_after = derivations(), cpu_seconds()
    took = sorted(t for times, _ in results for t in times)
    edges = max(e for _, e in results)
    if not took:
        raise SystemExit("mesh_crowd: no answer in time")
    pick = lambda q: took[min(len(took) - 1, int(q * len(took)))] * 1000
    print(
        f"{clients} clients, {duration:.0f} s: {len(took)} answers ({edges} product edges), "
        f"median {pick(0.5):.0f} ms, p90 {pick(0.9):.0f} ms, longest {took[-1] * 1000:.0f} ms; "
        f"{after - before:.0f} derivations; server CPU {cpu_after - cpu_before:.1f} s"
    )
