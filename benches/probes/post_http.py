"""Posts every line of an NDJSON file as one OpenLineage event to a running server over HTTP,
16 clients each taking every 16th line; prints how many failed and how long it took.
usage: post_http.py LOAD.ndjson PORT"""
import concurrent.futures
import sys
import time
import urllib.request

lines = open(sys.argv[1], 'rb').read().splitlines()
url = f"http://127.0.0.1:{sys.argv[2]}/api/v1/lineage"


def post(chunk):
    failed = 0
    for line in chunk:
        request = urllib.request.Request(url, data=line, headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(request).read()
        except Exception:
            failed += 1
    return failed


started = time.time()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    failed = sum(pool.map(post, [lines[i::16] for i in range(16)]))
print(f"posted {len(lines)} events, {failed} failed, in {time.time() - started:.1f} s")
