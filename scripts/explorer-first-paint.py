#!/usr/bin/env python3
"""Times the explorer's lineage view in headless Chromium against a running server.

For each run: a fresh page load of `#/lineage?...`, then the page's own marks (ms since
navigation start, `window.tributaryMetrics`): first paint (the first answer, cut at 1,500
nodes, drawn) and complete (the whole answer, up to "max nodes", drawn). Prints one line per
run and the medians. Standard library only; needs `chromium` and `chromedriver` (Debian:
apt-get install chromium chromium-driver).

    scripts/explorer-first-paint.py --url http://127.0.0.1:5055 \\
        --namespace snowflake://acme-prod.eu-west-1 --name inventory_staging.dim_experiments_14997 --depth 1
"""
import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read() or b"null").get("value")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5055")
    parser.add_argument("--kind", default="DATASET", choices=["DATASET", "JOB"])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--direction", default="DOWNSTREAM", choices=["DOWNSTREAM", "UPSTREAM", "BOTH"])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--limit", type=int, default=20000, help='the view\'s "max nodes"')
    parser.add_argument("--datasets-only", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--screenshot", help="save a PNG of the last run's view here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("google-chrome"))
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver"))
    args = parser.parse_args()
    if not args.chromium or not args.chromedriver:
        sys.exit("needs chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver = subprocess.Popen([args.chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.TemporaryDirectory()
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        session = call(base, "POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": args.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={profile.name}"],
        }}}})["sessionId"]
        path = f"/session/{session}"
        query = urllib.parse.urlencode({
            "kind": args.kind, "ns": args.namespace, "name": args.name, "dir": args.direction,
            "depth": args.depth, "limit": args.limit, "dso": "1" if args.datasets_only else "",
        })
        url = f"{args.url.rstrip('/')}/#/lineage?{query}"
        first, complete = [], []
        for run in range(args.runs):
            call(base, "POST", path + "/url", {"url": "about:blank"})
            call(base, "POST", path + "/url", {"url": url})
            deadline = time.time() + 300
            while True:
                metrics = call(base, "POST", path + "/execute/sync", {
                    "script": "return [window.tributaryMetrics || null, (document.getElementById('lineage-status') || {}).innerText || '',"
                              " document.querySelectorAll('#lineage-graph g.node').length]",
                    "args": []})
                if metrics[0] and metrics[0].get("lineageCompleteMs"):
                    break
                if time.time() > deadline:
                    sys.exit(f"the lineage view did not complete in 300 s: {metrics[1]}")
                time.sleep(0.02)
            marks, status, drawn = metrics
            first.append(marks["lineageFirstPaintMs"])
            complete.append(marks["lineageCompleteMs"])
            print(f"run {run + 1}: first paint {marks['lineageFirstPaintMs']:.0f} ms, complete {marks['lineageCompleteMs']:.0f} ms, "
                  f"{drawn} nodes drawn; {status.strip()}")
        if args.screenshot:
            import base64
            with open(args.screenshot, "wb") as out:
                out.write(base64.b64decode(call(base, "GET", path + "/screenshot")))
        print(f"median of {args.runs}: first paint {statistics.median(first):.0f} ms, complete {statistics.median(complete):.0f} ms")
        call(base, "DELETE", path)
    finally:
        driver.terminate()
        driver.wait()
        profile.cleanup()


if __name__ == "__main__":
    main()
