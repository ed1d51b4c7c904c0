#!/usr/bin/env python3
"""Tables of Tributary against the peers and the BFS floor, from JSON lines.

usage: report.py FILE.jsonl [MORE.jsonl ...]   (later lines override earlier ones)

When the lines hold more than one Tributary binary or more than one run of one (run.sh's A/B
mode, `AB=NAME=PATH`), an A/B table comes first: every run's figure, the median per binary
and its ratio to the first binary's median.

Reads the lines of run_peers.sh (peers), `cargo bench --bench mesh` (tributary,
tributary-inproc, bfs-floor), crosscheck.py and summary_peers.py (the impact summary table). Stdlib only. Ratios are "times faster"
(peer / tributary) unless a column says otherwise; peer cells read "peer value (Tributary
N× faster|slower)".
"""
import json
import sys

SQL_PEERS = ["postgres", "sqlite", "duckdb", "duckdb-plain", "sqlite-analyzed"]
KUZU_PEERS = ["kuzu", "kuzu-shortest"]
PEER_ORDER = ["postgres", "sqlite", "sqlite-analyzed", "duckdb", "duckdb-plain", "kuzu", "kuzu-shortest", "networkx"]
QUERIES = ["down_d5", "down_all", "up_d5"]
HEAVY_KIND = {"down_d5": "hub", "down_all": "hub", "up_d5": "leaf"}


def fmt_ms(v):
    if v is None:
        return "-"
    if v < 0.01:
        return "%.4f" % v
    if v < 0.1:
        return "%.3f" % v
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v


def fmt_x(r):
    if r is None:
        return "-"
    if r < 0.1:
        return "%.3f×" % r
    return "%.2f×" % r if r < 10 else "%.0f×" % r


def fmt_speed(r):
    """r = peer time / Tributary time: how Tributary compares."""
    if r is None:
        return "-"
    if r >= 1:
        return "%s faster" % fmt_x(r)
    return "%s slower" % fmt_x(1.0 / r)


def fmt_bytes(v):
    if v is None:
        return "-"
    for unit, d in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if v >= d:
            return "%.1f %s" % (v / d, unit)
    return "%d B" % v


def load(paths, runs=None):
    """The last line per (scale, peer, metric); with `runs` (a dict), every line too."""
    m = {}
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if "scale" in d and "peer" in d and "metric" in d:
                    m[(d["scale"], d["peer"], d["metric"])] = d
                    if runs is not None:
                        runs.setdefault((d["scale"], d["peer"], d["metric"]), []).append(d)
    return m


# The A/B table's figures: (metric, how to read one line, label, higher is better).
AB_FIGURES = [
    ("ingest_events_per_s", lambda d: d["value"], "`tributary import`, events/s", True),
    ("ingest_grpc_stream_events_per_s", lambda d: d["value"], "one gRPC stream, durable events/s", True),
    ("ingest_http_events_per_s", lambda d: d["value"], "HTTP, 16 clients, durable events/s", True),
    ("disk_bytes", lambda d: d.get("vs_ndjson"), "disk after import ÷ NDJSON", False),
    ("compact_s", lambda d: d["value"], "`tributary compact`, s", False),
    ("disk_after_compact_bytes", lambda d: d.get("vs_ndjson"), "disk after `tributary compact` ÷ NDJSON", False),
    ("startup_first_answer_ms", lambda d: d["value"], "start-up to first answer, ms", False),
    ("server_rss_after_open_bytes", lambda d: d.get("per_dataset_and_job_bytes"), "RSS after open, B per dataset+job", False),
    ("down_d5_p50_ms", lambda d: (d.get("p50_by_kind") or {}).get("hub"), "down_d5 hub median, ms (gRPC)", False),
    ("down_all_p50_ms", lambda d: (d.get("p50_by_kind") or {}).get("hub"), "down_all hub median, ms (gRPC)", False),
    ("down_d5_p99_ms", lambda d: d["value"], "down_d5 p99, ms (gRPC)", False),
]


def fmt_num(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    return "%.2f" % v if abs(v) >= 1 else "%.3f" % v


def ab_report(runs, s):
    """The A/B table of one scale, or nothing when there is one run of one binary."""
    builds = []
    for (scale, peer, metric), lines in runs.items():
        # Tributary binaries only: the mesh bench's `versions` line names the commit.
        if scale == s and metric == "versions" and peer not in builds and "tributary" in (lines[-1].get("value") or {}):
            builds.append(peer)
    order = {peer: min(i for i, d in enumerate(runs[(s, peer, "versions")])) for peer in builds}
    n_runs = max((len(runs[(s, peer, "versions")]) for peer in builds), default=0)
    if len(builds) < 2 and n_runs < 2:
        return
    builds.sort(key=lambda peer: order[peer])
    # The first binary named by AB is the baseline when this build runs too.
    base = next((peer for peer in builds if peer != "tributary"), builds[0])
    print("\n## %s: A/B\n" % s)
    commits = ", ".join("%s = %s" % (peer, runs[(s, peer, "versions")][-1]["value"].get("tributary", "?"))
                        for peer in builds)
    print("Commits: %s. Each cell: every run's figure (in run order), then the median; the ratio is the "
          "median against %s's (> 1 = better).\n" % (commits, base))
    head = ["figure"] + builds + ["ratio to %s" % base]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for metric, read, label, higher_better in AB_FIGURES:
        values = {}
        for peer in builds:
            found = [read(d) for d in runs.get((s, peer, metric), [])]
            values[peer] = [v for v in found if v is not None]
        if not any(values.values()):
            continue
        medians = {peer: (median(v) if v else None) for peer, v in values.items()}
        cells = [label]
        for peer in builds:
            v = values[peer]
            cells.append("-" if not v else "%s → **%s**" % (" / ".join(fmt_num(x) for x in v), fmt_num(medians[peer]))
                         if len(v) > 1 else fmt_num(v[0]))
        ratios = []
        for peer in builds:
            if peer == base:
                continue
            r = ratio(medians[peer], medians[base]) if higher_better else ratio(medians[base], medians[peer])
            ratios.append("%s %s" % (peer, fmt_x(r)))
        cells.append(", ".join(ratios))
        print("| " + " | ".join(cells) + " |")


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2.0


def figure(m, scale, peer, query, stat):
    """stat: p50 | p99 | a target kind (median over that kind's samples)."""
    if stat in ("p50", "p99"):
        d = m.get((scale, peer, "%s_%s_ms" % (query, stat)))
        return None if d is None else d["value"]
    d = m.get((scale, peer, "%s_p50_ms" % query))
    return None if d is None else (d.get("p50_by_kind") or {}).get(stat)


def server_figure(m, scale, peer, query, stat):
    """The server's own time to the answer's last byte (`<query>_server_p50_ms`, read from its
    /metrics): the median over targets, or a kind's median; none for p99."""
    d = m.get((scale, peer, "%s_server_p50_ms" % query))
    if d is None or stat == "p99":
        return None
    return d["value"] if stat == "p50" else (d.get("p50_by_kind") or {}).get(stat)


def sole_build(m, s):
    """The one A/B binary of a scale that ran without this build (`AB_SELF=0` and one NAME=PATH),
    which the scale's tables then show as `tributary`; None otherwise."""
    builds = {k[1] for k, d in m.items() if k[0] == s and k[2] == "versions" and "tributary" in (d.get("value") or {})}
    if "tributary" in builds or len(builds) != 1:
        return None
    return builds.pop()


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def scale_n(s):
    mult = {"k": 10 ** 3, "m": 10 ** 6}.get(s[-1:].lower(), 1)
    try:
        return int(s[:-1] if mult > 1 else s) * mult
    except ValueError:
        return 0


def report_scale(m, s):
    peers = [p for p in PEER_ORDER if any(k[0] == s and k[1] == p and k[2].endswith("_p50_ms") for k in m)]
    # A/B runs of other binaries (`mesh --label tributary-xyz --bin ...`).
    variants = sorted({k[1] for k in m if k[0] == s and k[1].startswith("tributary-") and not k[1].endswith("-inproc")
                       and k[2].endswith("_p50_ms")})
    print("\n## %s\n" % s)
    print("### Impact queries, ms (peer cells: the peer's figure, and Tributary over gRPC against it)\n")
    head = ["query / stat", "tributary (gRPC)", "server, last byte"] + variants + [
        "in-process", "BFS floor", "tributary ÷ floor", "server ÷ floor"] + peers
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for q in QUERIES:
        for stat in ("p50", "p99", HEAVY_KIND[q], "mid"):
            t = figure(m, s, "tributary", q, stat)
            if t is None and figure(m, s, "bfs-floor", q, stat) is None:
                continue
            label = "%s %s" % (q, stat if stat in ("p50", "p99") else stat + " median")
            server = server_figure(m, s, "tributary", q, stat)
            floor = figure(m, s, "bfs-floor", q, stat)
            cells = [label, fmt_ms(t), fmt_ms(server)] + [fmt_ms(figure(m, s, v, q, stat)) for v in variants] + [
                     fmt_ms(figure(m, s, "tributary-inproc", q, stat)),
                     fmt_ms(floor), fmt_x(ratio(t, floor)), fmt_x(ratio(server, floor))]
            for p in peers:
                v = figure(m, s, p, q, stat)
                cells.append("%s (%s)" % (fmt_ms(v), fmt_speed(ratio(v, t))) if v is not None else "-")
            print("| " + " | ".join(cells) + " |")

    def val(peer, metric, key="value"):
        d = m.get((s, peer, metric))
        return None if d is None else d.get(key)

    print("\n### Ingest, size, memory, start-up\n")
    print("| figure | tributary | notes |")
    print("|---|---:|---|")
    imp = m.get((s, "tributary", "ingest_events_per_s"))
    if imp:
        peers_ingest = ", ".join("%s %.0f" % (p, val(p, "ingest_events_per_s"))
                                 for p in ["postgres", "sqlite", "duckdb", "kuzu", "networkx", "null"]
                                 if val(p, "ingest_events_per_s"))
        print("| bulk import events/s | %.0f | `tributary import` in %.1f s (peak RSS %s); peers (5000-event transactions): %s |" % (
            imp["value"], val("tributary", "ingest_s"), fmt_bytes(imp.get("import_peak_rss_bytes")), peers_ingest))
    for metric, label in (("ingest_grpc_stream_events_per_s", "gRPC, one IngestStream, events/s"),
                          ("ingest_http_events_per_s", "HTTP, 16 clients, events/s")):
        d = m.get((s, "tributary", metric))
        if d:
            cap = " (stopped by the %s cap)" % d["capped_by"] if d.get("capped_by") else ""
            print("| %s | %.0f | %d events in %.1f s%s, fresh store |" % (label, d["value"], d["events"], d["seconds"], cap))
    for p in ["postgres", "sqlite", "duckdb"]:
        v = val(p + "-txn-per-event", "ingest_events_per_s")
        if v:
            print("| %s one txn per event | %.0f | peer, for the HTTP figure |" % (p, v))
    d = m.get((s, "tributary", "disk_bytes"))
    if d:
        sizes = ", ".join("%s %s" % (p, fmt_bytes(val(p, "disk_bytes"))) for p in ["postgres", "sqlite", "duckdb", "kuzu"]
                          if val(p, "disk_bytes"))
        print("| disk | %s | %.2f× the NDJSON (%s); %d B per dataset, %d B per event; peers: %s |" % (
            fmt_bytes(d["value"]), d["vs_ndjson"], fmt_bytes(d["ndjson_bytes"]), d["bytes_per_dataset"],
            d["bytes_per_event"], sizes))
    for metric, label in (("server_rss_after_open_bytes", "server RSS after open"),
                          ("server_rss_after_queries_bytes", "server RSS after queries")):
        d = m.get((s, "tributary", metric))
        if d:
            print("| %s | %s | %d B per dataset+job (%d B above an empty server of %s); peak %s |" % (
                label, fmt_bytes(d["value"]), d["per_dataset_and_job_bytes"], d["per_dataset_and_job_above_empty_bytes"],
                fmt_bytes(d["empty_server_bytes"]), fmt_bytes(d["peak_bytes"])))
    d = m.get((s, "tributary", "startup_first_answer_ms"))
    if d:
        print("| start-up to first answer | %.0f ms | listening after %.0f ms; in-process Service::open %s ms |" % (
            d["value"], d["listening_ms"], val("tributary-inproc", "open_ms")))
    cc = m.get((s, "all", "crosscheck_mismatches"))
    if cc:
        print("\ncross-check (crosscheck.py): %d mismatches over %d compared results; reference %s; peers %s" % (
            cc["value"], cc["compared"], cc["reference"], ", ".join(cc["peers"])))
    for p in ("tributary", "tributary-inproc"):
        d = m.get((s, p, "crosscheck_vs_floor_mismatches"))
        if d:
            print("\n%s vs BFS floor: %d mismatches over %d results" % (p, d["value"], d["compared"]))
    targets(m, s, peers)


def targets(m, s, peers):
    print("\n### Targets\n")
    print("Query targets: Tributary over gRPC against the fastest peer of the kind, as \"times faster\" "
          "(below 1 = slower); the heavy stat is the hub median (down) or leaf median (up). "
          "Floor column: Tributary ÷ BFS floor, with the in-process engine alone in brackets.\n")
    print("| target | stat | down_d5 | down_all | up_d5 | met? |")
    print("|---|---|---|---|---|---|")
    sql = [p for p in peers if p in SQL_PEERS]
    kuzu = [p for p in peers if p in KUZU_PEERS]

    def best(group, q, stat):
        found = [(figure(m, s, p, q, stat), p) for p in group if figure(m, s, p, q, stat) is not None]
        return min(found) if found else None

    for name, group, need in (("100× faster than the best SQL peer", sql, 100), ("10× faster than Kuzu", kuzu, 10)):
        for stat_name in ("heavy", "p50", "p99"):
            cells, oks = [], []
            for q in QUERIES:
                stat = HEAVY_KIND[q] if stat_name == "heavy" else stat_name
                t, b = figure(m, s, "tributary", q, stat), best(group, q, stat)
                if t is None or b is None:
                    cells.append("-")
                    continue
                r = ratio(b[0], t)
                oks.append(r is not None and r >= need)
                cells.append("%s (%s %s ms vs %s)" % (fmt_x(r), b[1], fmt_ms(b[0]), fmt_ms(t)))
            if oks:
                print("| %s | %s | %s | %s |" % (name, stat_name, " | ".join(cells), "met" if all(oks) else "**missed**"))
    for stat_name in ("heavy", "p50", "p99"):
        cells, oks = [], []
        for q in QUERIES:
            stat = HEAVY_KIND[q] if stat_name == "heavy" else stat_name
            t, f = figure(m, s, "tributary", q, stat), figure(m, s, "bfs-floor", q, stat)
            if t is None or f is None:
                cells.append("-")
                continue
            r = ratio(t, f)
            oks.append(r is not None and r <= 3)
            cells.append("%s (%s)" % (fmt_x(r), fmt_x(ratio(figure(m, s, "tributary-inproc", q, stat), f))))
        if oks:
            print("| within 3× of the bare BFS | %s | %s | %s |" % (stat_name, " | ".join(cells), "met" if all(oks) else "**missed**"))

    print("\n| target | figure | met? |")
    print("|---|---|---|")

    def line(name, text, ok):
        print("| %s | %s | %s |" % (name, text, "-" if ok is None else ("met" if ok else "**missed**")))

    typical = [(figure(m, s, "tributary", q, "p99"), q) for q in ("down_d5", "up_d5")]
    typical = [x for x in typical if x[0] is not None]
    if typical:
        line("p99 < 10 ms typical", ", ".join("%s p99 %s ms" % (q, fmt_ms(v)) for v, q in typical),
             all(v < 10 for v, _ in typical))
    worst = max(((figure(m, s, "tributary", q, "p99") or 0), q) for q in QUERIES)
    d = m.get((s, "tributary", worst[1] + "_p99_ms"))
    if d:
        nodes = d.get("max_answer_nodes") or 0
        line("p99 < 100 ms for a hub reaching 100k nodes",
             "worst p99 %s ms (%s; answers up to %s nodes%s)" % (
                 fmt_ms(worst[0]), worst[1], nodes, "" if nodes >= 50000 else ": no such hub at this scale"),
             worst[0] < 100 if nodes >= 50000 else None)
    d = m.get((s, "tributary", "ingest_grpc_stream_events_per_s"))
    if d:
        line(">= 20,000 durable events/s over one gRPC stream", "%.0f events/s" % d["value"], d["value"] >= 20000)
    d = m.get((s, "tributary", "ingest_http_events_per_s"))
    if d:
        line(">= 5,000 events/s over HTTP with 16 clients", "%.0f events/s" % d["value"], d["value"] >= 5000)
    d = m.get((s, "tributary", "startup_first_answer_ms"))
    if d:
        n = scale_n(s)
        est = d["value"] / 1000.0 * (1e6 / n) if n else None
        line("reopen under 10 s at 1M", "%.2f s at %s; linear extrapolation to 1M: %s" % (
            d["value"] / 1000.0, s, "%.0f s" % est if est is not None else "-"),
             (d["value"] < 10000) if s.lower() == "1m" else None)
    d = m.get((s, "tributary", "server_rss_after_open_bytes"))
    if d:
        line("< 1 KiB RSS per dataset+job", "%d B after open (%d B above an empty server)" % (
            d["per_dataset_and_job_bytes"], d["per_dataset_and_job_above_empty_bytes"]), d["per_dataset_and_job_bytes"] < 1024)
    d = m.get((s, "tributary", "disk_bytes"))
    if d:
        line("disk < 1.5× the NDJSON", "%.2f× (%s for %s)" % (d["vs_ndjson"], fmt_bytes(d["value"]), fmt_bytes(d["ndjson_bytes"])),
             d["vs_ndjson"] < 1.5)


SUMMARY_PEERS = ["duckdb", "sqlite", "postgres"]


def summary_report(runs, s):
    """The impact summary per hub: Tributary (gRPC, GraphQL) against the SQL peers' one statement
    (benches/summary_peers.py), with the goal of issue #13 (>= 20x the best SQL peer, < 20 ms)."""
    def by_target(peer):
        return {d["target"]: d for d in runs.get((s, peer, "summary_hub_ms"), []) if d.get("target")}
    trib = by_target("tributary")
    if not trib:
        return
    peers = [p for p in SUMMARY_PEERS if by_target(p)]
    print("\n### Impact summary from the hubs: Tributary against closure + group by in SQL\n")
    print("Median ms per hub (Tributary: gRPC / GraphQL; a peer: its one SQL statement, and how many times "
          "Tributary over gRPC is faster). Nodes = datasets + jobs downstream.\n")
    print("Tributary keeps recent summaries while the graph and the mesh stay: \"asked again\" is answered from "
          "them, \"walking\" is a question never asked before (the server walks the closure).\n")
    head = ["hub", "nodes", "groups", "tributary gRPC / GraphQL, asked again", "walking"] + peers + [
        "best SQL ÷ gRPC asked again", "÷ gRPC walking"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = sorted(trib.values(), key=lambda d: -(d.get("datasets", 0) + d.get("jobs", 0)))
    per_peer = {p: by_target(p) for p in peers}
    best_ratios, grpcs = [], []
    for d in rows:
        t, g = d.get("grpc_median_ms"), d.get("value")
        cells = [d["target"], "{:,}".format(d.get("datasets", 0) + d.get("jobs", 0)), str(d.get("groups", "-")),
                 "%s / %s" % (fmt_ms(t), fmt_ms(g)),
                 "%s / %s" % (fmt_ms(d.get("grpc_walk_median_ms")), fmt_ms(d.get("graphql_walk_median_ms")))]
        found = []
        for p in peers:
            x = per_peer[p].get(d["target"])
            v = None if x is None else x.get("value")
            if x is not None and x.get("timeout"):
                cells.append("timeout (> %s)" % fmt_ms(x.get("lower_bound")))
                continue
            mark = "" if x is None or x.get("match", True) else " **mismatch**"
            cells.append("-" if v is None else "%s (%s)%s" % (fmt_ms(v), fmt_x(ratio(v, t)), mark))
            if v is not None:
                found.append(v)
        r = ratio(min(found), t) if found else None
        if r is not None:
            best_ratios.append(r)
        grpcs.append(t)
        cells.append(fmt_x(r))
        walk = d.get("grpc_walk_median_ms")
        cells.append(fmt_x(ratio(min(found), walk)) if found and walk else "-")
        print("| " + " | ".join(cells) + " |")
    meds = ["median over hubs", "", "", "%s / %s" % (fmt_ms(median([d["grpc_median_ms"] for d in rows])),
                                                   fmt_ms(median([d["value"] for d in rows])))]
    walks = [d for d in rows if d.get("grpc_walk_median_ms") is not None]
    meds.append("%s / %s" % (fmt_ms(median([d["grpc_walk_median_ms"] for d in walks])),
                             fmt_ms(median([d["graphql_walk_median_ms"] for d in walks]))) if walks else "-")
    for p in peers:
        vs = [x["value"] for x in per_peer[p].values() if x.get("value") is not None]
        meds.append(fmt_ms(median(vs)) if vs else "-")
    meds.append(fmt_x(median(best_ratios)) if best_ratios else "-")
    meds.append("")
    print("| " + " | ".join(meds) + " |")
    cc = runs.get((s, "all", "summary_crosscheck_mismatches"))
    if cc:
        d = cc[-1]
        print("\ncross-check (summary_peers.py): %d of %d hub answers differ from Tributary's (totals, groups, owners, "
              "page length) over %s" % (d["value"], d["compared"], ", ".join(peers) or "no peer"))
    if best_ratios and grpcs:
        largest = rows[0]
        print("\ngoal (issue #13, meant at 1M): >= 20× the best SQL peer: %s (smallest ratio over hubs %s); "
              "< 20 ms at the median for the largest hubs: largest hub %s ms over gRPC, %s ms over GraphQL" % (
                  "met" if min(best_ratios) >= 20 else "**missed**", fmt_x(min(best_ratios)),
                  fmt_ms(largest.get("grpc_median_ms")), fmt_ms(largest.get("value"))))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    runs = {}
    m = load(sys.argv[1:], runs)
    scales = sorted({k[0] for k in m if k[1] == "tributary" or k[1] == "bfs-floor" or k[2] == "versions"}, key=scale_n)
    for s in scales:
        ab_report(runs, s)
        alias = sole_build(m, s)
        if alias is not None:
            # Its lines (and its in-process ones) fill the `tributary` columns.
            for (scale, peer, metric), d in list(m.items()):
                if scale == s and peer in (alias, alias + "-inproc"):
                    m[(scale, "tributary" + peer[len(alias):], metric)] = d
                    del m[(scale, peer, metric)]
            print("\n(%s: the `tributary` columns below are the A/B binary `%s`.)" % (s, alias))
        if any(k[0] == s and k[1] in ("tributary", "bfs-floor") for k in m):
            report_scale(m, s)
        summary_report(runs, s)


if __name__ == "__main__":
    main()
