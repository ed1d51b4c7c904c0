"""Posts every line of an NDJSON file as one OpenLineage event to a running server over HTTP,
16 clients each taking every 16th line; prints how many failed, how long it took, and the
acknowledgements' latency (median, p99, p99.9, longest), and what the failed posts were told
(status and body, or the connection error), counted by kind.
usage: post_http.py LOAD.ndjson PORT"""
import collections
import concurrent.futures
import http.client
import sys
import time
import urllib.request

lines = open(sys.argv[1], 'rb').read().splitlines()
url = f"http://127.0.0.1:{sys.argv[2]}/api/v1/lineage"


def post(chunk):
    failed, took = [], []
    for line in chunk:
        request = urllib.request.Request(url, data=line, headers={"content-type": "application/json"})
        sent = time.monotonic()
        try:
            urllib.request.urlopen(request).read()
            took.append(time.monotonic() - sent)
        except urllib.error.HTTPError as error:
            failed.append(f"HTTP {error.code}: {error.read()[:300].decode(errors='replace')}")
        except (OSError, http.client.HTTPException) as error:
            failed.append(f"{type(error).__name__}: {error} after {time.monotonic() - sent:.2f} s")
    return failed, took


started = time.time()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    answers = list(pool.map(post, [lines[i::16] for i in range(16)]))
elapsed = time.time() - started
failures = [failure for failed, _ in answers for failure in failed]
failed = len(failures)
took = sorted(t for _, times in answers for t in times)
print(f"posted {len(lines)} events, {failed} failed, in {elapsed:.1f} s ({len(lines) / elapsed:.0f} events/s)")
if took:
    at = lambda q: took[min(len(took) - 1, int(q * len(took)))] * 1000
    print(f"acknowledged in ms: median {at(0.5):.1f}, p99 {at(0.99):.1f}, p99.9 {at(0.999):.1f}, longest {took[-1] * 1000:.1f}")
for kind, count in collections.Counter(failures).most_common(10):
    print(f"  {count} x {kind}")
