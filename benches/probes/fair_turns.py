"""Turns between callers: FLOOD clients of one token keep asking for a hub's downstream
datasets (a long walk each) while an analyst with another token asks a small question (one
dataset's direct downstream) every PAUSE seconds. Prints the analyst's latency (median, p90,
longest) and how many answers each side got in DURATION seconds. With turns in arrival order
the analyst waits behind the flood's queue; with turns going round the callers, behind about
one walk. The flood runs in a process of its own and does not parse its answers (it checks
that each is not an error), so the analyst's latency is the server's and the network's, not
the wait for this interpreter's lock behind the flood's JSON parsing (session 35: with both in
one process the analyst's figures did not move with the server's scheduling).
With FLOOD_CHECK=NAMESPACE/NAME the flood asks for a change check of that dataset dropping its
first column (`checkChange { verdict changes { impactCount } }`, a review bot's question) instead
of the hub's walk: long turns, so the order of the turns shows.
usage: fair_turns.py PORT FLOOD_TOKEN ANALYST_TOKEN FLOOD HUB_NAMESPACE HUB_NAME SMALL_NAMESPACE SMALL_NAME DURATION [PAUSE]"""
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

port, flood_token, analyst_token, flood = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hub, small, duration = (sys.argv[5], sys.argv[6]), (sys.argv[7], sys.argv[8]), float(sys.argv[9])
pause = float(sys.argv[10]) if len(sys.argv) > 10 else 0.5
url = f"http://127.0.0.1:{port}/graphql"
QUERY = """query($ns: String!, $n: String!, $depth: Int!) { lineage(start: {kind: DATASET, namespace: $ns, name: $n},
  direction: DOWNSTREAM, depth: $depth, limit: 1000000, datasetsOnly: true) { nodes { namespace name distance } truncated } }"""


def request(token, start, depth):
    body = json.dumps({"query": QUERY, "variables": {"ns": start[0], "n": start[1], "depth": depth}}).encode()
    return urllib.request.Request(url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {token}"})


def ask(token, start, depth):
    with urllib.request.urlopen(request(token, start, depth), timeout=600) as response:
        answer = json.loads(response.read())
    if "errors" in answer:
        raise RuntimeError(json.dumps(answer["errors"])[:300])
    return len(answer["data"]["lineage"]["nodes"])


def flood_request():
    """The flood's request: the hub's walk, or with FLOOD_CHECK a change check."""
    target = os.environ.get("FLOOD_CHECK")
    if not target:
        return lambda: request(flood_token, hub, 1000)
    namespace, name = target.rsplit("/", 1)
    schema = "query($ns: String!, $n: String!) { dataset(namespace: $ns, name: $n) { currentSchema { rawFields } } }"
    body = json.dumps({"query": schema, "variables": {"ns": namespace, "n": name}}).encode()
    asked = urllib.request.Request(url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {flood_token}"})
    with urllib.request.urlopen(asked, timeout=600) as response:
        fields = json.loads(response.read())["data"]["dataset"]["currentSchema"]["rawFields"]
    check = """query($ds: DatasetInput!, $schema: String!) { checkChange(dataset: $ds, schema: $schema) { verdict changes { impactCount } } }"""
    variables = {"ds": {"namespace": namespace, "name": name}, "schema": json.dumps({"fields": fields[1:]})}
    body = json.dumps({"query": check, "variables": variables}).encode()
    return lambda: urllib.request.Request(url, data=body, headers={"content-type": "application/json", "authorization": f"Bearer {flood_token}"})


def flood_process(ends, results):
    """FLOOD clients of the flood's token until `ends`; puts (answers, refused) on `results`."""
    counts = {"flood": 0, "refused": 0}
    lock = threading.Lock()
    flood_asks = flood_request()

    def flooder():
        while time.monotonic() < ends:
            try:
                with urllib.request.urlopen(flood_asks(), timeout=600) as response:
                    answer = response.read()
                # An error is at the end of the answer (or all of it when refused).
                outcome = "refused" if b'"errors"' in answer[-4096:] else "flood"
            except urllib.error.HTTPError:
                outcome = "refused"
            with lock:
                counts[outcome] += 1
            if outcome == "refused":
                time.sleep(0.05)

    threads = [threading.Thread(target=flooder, daemon=True) for _ in range(flood)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((counts["flood"], counts["refused"]))


if __name__ == "__main__":
    ends = time.monotonic() + duration
    forked = multiprocessing.get_context("fork")
    results = forked.Queue()
    flooding = forked.Process(target=flood_process, args=(ends, results))
    flooding.start()
    time.sleep(min(2.0, duration / 4))
    took, nodes = [], None
    while time.monotonic() < ends:
        sent = time.monotonic()
        nodes = ask(analyst_token, small, 1)
        took.append(time.monotonic() - sent)
        time.sleep(pause)
    answers, refused = results.get()
    flooding.join()
    took.sort()
    ms = lambda s: f"{s * 1000:.0f}"
    print(f"analyst: {len(took)} answers ({nodes} nodes each), median {ms(statistics.median(took))} ms, "
          f"p90 {ms(took[int(0.9 * (len(took) - 1))])} ms, longest {ms(took[-1])} ms; "
          f"flood ({flood} clients): {answers} answers, {refused} refused")
