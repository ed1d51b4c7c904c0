#!/usr/bin/env python3
"""The impact summary on the SQL peers, cross-checked against Tributary's answers (issue #13).

The mesh bench's `summary` step writes the mesh it applied (domain and product descriptors) and
Tributary's `impactSummary` answer from every hub to `<root>/results/summary/<label>-<scale>.json`.
This script loads the same NDJSON into DuckDB, SQLite and (if its cluster starts) PostgreSQL
with the peers' own code (`peers.common.Frontend`, each `peers.*_peer.Peer`: same schema, same
batches), adds the mesh as four small tables, and asks every hub the same question as ONE SQL
query: the peers' recursive closure downstream (`sql_common.lineage_sql`, full depth), the jobs
that read a dataset of it, joined to the membership, grouped by product, domain and (outside every
domain) namespace with the owners, the totals, and a first page of 50. Timed as the peers time
queries (1 warm-up, then `--summary-reps` calls, median per hub); the warm-up answer's totals, groups and
owners must equal Tributary's for every hub (exit 1 otherwise).

The membership follows the server's rules (`crates/tributary-service/src/mesh/mod.rs`,
`mesh/impact.rs`, graph `labels.rs`):

- a dataset belongs to the product that lists it as an output port, else (first product by id)
  as an internal dataset; its domain is its product's, else its namespace's domain;
- a job's product is that of the first dataset of a product it writes, in (namespace, name)
  order (derived once at load time, as the server derives a job's label when the mesh or the
  job's outputs change); its domain is its namespace's domain, else its product's;
- nodes outside every domain are grouped by namespace; the start is not counted;
- owners of a group: the product's declared owners, then the domain's.

The page is the first 50 nodes in (kind, namespace, name) order: SQL's closure has no walk order
(the plain recursive UNION keeps no distance), while Tributary's page is the first 50 of its
breadth-first walk (nearest first); only the page's length is compared.

Prints one JSON line per figure (peers' shape) on stdout; progress on stderr.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def log(msg):
    print("[summary_peers %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def emit(peer, scale, metric, value, unit, **kw):
    d = {"peer": peer, "scale": scale, "metric": metric, "value": value, "unit": unit}
    d.update(kw)
    print(json.dumps(d), flush=True)


# --- the mesh as tables -------------------------------------------------------------------

def mesh_tables(mesh):
    """The server's membership rules over the applied descriptors (see the module doc)."""
    domains = {}
    namespaces = {}
    for d in mesh["domains"]:
        owners = [o["name"] for o in d.get("owners", [])]
        domains[d["id"]] = owners
        for ns in d.get("namespaces", []):
            namespaces[ns] = d["id"]
    products = {}
    members = {}
    by_id = sorted(mesh["products"], key=lambda p: p["id"])  # MeshState keeps products in a BTreeMap
    for p in by_id:
        owners = [o["name"] for o in p.get("owners", [])]
        products[p["id"]] = (p["domain"], owners, p.get("classification") == "restricted")
        for port in p.get("outputPorts", []):
            ds = port["dataset"]
            members[(ds["namespace"], ds["name"])] = p["id"]
    for p in by_id:
        for ds in p.get("internalDatasets", []):
            members.setdefault((ds["namespace"], ds["name"]), p["id"])
    for pid, (_, owners, _) in products.items():
        if len(owners) > 1:
            raise SystemExit("product %s has %d owners; the tables keep one" % (pid, len(owners)))
    for did, owners in domains.items():
        if len(owners) > 1:
            raise SystemExit("domain %s has %d owners; the tables keep one" % (did, len(owners)))
    return domains, namespaces, products, members


MESH_DDL = """
CREATE TABLE mesh_domain (domain TEXT PRIMARY KEY, owner TEXT);
CREATE TABLE mesh_namespace (namespace TEXT PRIMARY KEY, domain TEXT NOT NULL);
CREATE TABLE mesh_product (product TEXT PRIMARY KEY, domain TEXT NOT NULL, owner TEXT, restricted BOOLEAN NOT NULL);
CREATE TABLE mesh_member_name (namespace TEXT NOT NULL, name TEXT NOT NULL, product TEXT NOT NULL);
"""

# dataset ids of the members, and each job's product (first member output in (namespace, name) order)
MESH_DERIVE = """
CREATE TABLE mesh_member AS
  SELECT d.id AS dataset_id, m.product FROM mesh_member_name m JOIN datasets d ON d.namespace = m.namespace AND d.name = m.name;
CREATE TABLE mesh_job_product AS
  SELECT job_id, product FROM (
    SELECT o.job_id, m.product, ROW_NUMBER() OVER (PARTITION BY o.job_id ORDER BY d.namespace, d.name) AS rn
    FROM job_versions_io_mapping o JOIN mesh_member m ON m.dataset_id = o.dataset_id JOIN datasets d ON d.id = o.dataset_id
    WHERE o.io_type = 'OUTPUT' AND {oc}) x
  WHERE rn = 1;
CREATE UNIQUE INDEX mesh_member_idx ON mesh_member (dataset_id);
CREATE UNIQUE INDEX mesh_job_product_idx ON mesh_job_product (job_id);
"""


def summary_sql(lineage_sql, p_ns, p_name, page, true_lit="TRUE", lin_join="JOIN"):
    """One statement: the peers' full-depth closure, then groups, totals and a page.

    Rows: ('group', product, domain, namespace, datasets, jobs, product_owner, domain_owner, restricted),
    ('total', .., datasets, jobs, ..), ('page', kind, NULL, namespace, NULL, NULL, NULL, NULL, NULL, name).
    `lin_join`: SQLite's "CROSS JOIN" keeps the closure as the outer loop of the jobs' join (its
    planner otherwise scans the whole io table with an automatic index on the closure).
    """
    closure = lineage_sql("down", None, p_ns, p_name, true_lit=true_lit)
    head, sep, _ = closure.rpartition("SELECT d.namespace, d.name FROM datasets d")
    assert sep, "peers' lineage_sql changed shape"
    ic = "i.is_current" if true_lit == "TRUE" else "i.is_current = %s" % true_lit
    return head.rstrip() + """,
    reached AS (SELECT dataset_id FROM lin WHERE dataset_id NOT IN (SELECT id FROM s)),
    jobs_reached AS (SELECT DISTINCT i.job_id FROM lin l
      {lin_join} job_versions_io_mapping i ON i.dataset_id = l.dataset_id AND i.io_type = 'INPUT' AND {ic}),
    nodes AS (
      SELECT 0 AS kind, d.namespace, d.name, m.product, COALESCE(p.domain, nd.domain) AS domain
      FROM reached r JOIN datasets d ON d.id = r.dataset_id
      LEFT JOIN mesh_member m ON m.dataset_id = d.id
      LEFT JOIN mesh_product p ON p.product = m.product
      LEFT JOIN mesh_namespace nd ON nd.namespace = d.namespace
      UNION ALL
      SELECT 1 AS kind, j.namespace, j.name, jp.product, COALESCE(nj.domain, p.domain) AS domain
      FROM jobs_reached x JOIN jobs j ON j.id = x.job_id
      LEFT JOIN mesh_job_product jp ON jp.job_id = j.id
      LEFT JOIN mesh_product p ON p.product = jp.product
      LEFT JOIN mesh_namespace nj ON nj.namespace = j.namespace),
    grouped AS (
      SELECT product, domain, CASE WHEN domain IS NULL THEN namespace END AS namespace,
             SUM(1 - kind) AS datasets, SUM(kind) AS jobs
      FROM nodes GROUP BY product, domain, CASE WHEN domain IS NULL THEN namespace END)
    SELECT 'group' AS what, g.product, g.domain, g.namespace, CAST(g.datasets AS BIGINT), CAST(g.jobs AS BIGINT),
           p.owner, dm.owner AS domain_owner,
           p.restricted, NULL AS name
    FROM grouped g LEFT JOIN mesh_product p ON p.product = g.product LEFT JOIN mesh_domain dm ON dm.domain = g.domain
    UNION ALL
    SELECT 'total', NULL, NULL, NULL, CAST(SUM(datasets) AS BIGINT), CAST(SUM(jobs) AS BIGINT), NULL, NULL, NULL, NULL
    FROM grouped
    UNION ALL
    SELECT * FROM (
      SELECT 'page', CASE kind WHEN 0 THEN 'DATASET' ELSE 'JOB' END, NULL, namespace, CAST(NULL AS BIGINT),
             CAST(NULL AS BIGINT), NULL, NULL, CAST(NULL AS BOOLEAN), name
      FROM nodes ORDER BY kind, namespace, name LIMIT {page}) pg""".format(ic=ic, page=int(page), lin_join=lin_join)


# --- engines ---------------------------------------------------------------------------------

class Engine:
    """A peer's loaded database plus how to run one statement on it with a timeout."""

    def __init__(self, name, peer, args):
        self.name, self.peer, self.args = name, peer, args

    def script(self, sql):
        for stmt in (s.strip() for s in sql.split(";")):
            if stmt:
                self.execute(stmt)


class DuckEngine(Engine):
    placeholders = ("$ns", "$name")
    true_lit = "TRUE"
    lin_join = "JOIN"

    def execute(self, sql, params=None):
        return self.peer.conn.execute(sql, params) if params else self.peer.conn.execute(sql)

    def insert(self, table, cols, rows):
        import pyarrow as pa
        if rows:
            t = pa.table({c: pa.array(list(v)) for c, v in zip(cols, zip(*rows))})  # noqa: F841 (scanned by name)
            self.peer.conn.execute("INSERT INTO %s (%s) SELECT * FROM t" % (table, ", ".join(cols)))

    def run(self, sql, key):
        import duckdb
        timer = threading.Timer(self.args.timeout_s, self.peer.conn.interrupt)
        timer.start()
        try:
            return self.peer.conn.execute(sql, {"ns": key[0], "name": key[1]}).fetchall()
        except duckdb.InterruptException:
            raise TimeoutError()
        finally:
            timer.cancel()


class SqliteEngine(Engine):
    placeholders = (":ns", ":name")
    true_lit = "1"
    lin_join = "CROSS JOIN"

    def execute(self, sql, params=None):
        return self.peer.conn.execute(sql, params or {})

    def insert(self, table, cols, rows):
        c = self.peer.conn
        c.execute("BEGIN")
        c.executemany("INSERT INTO %s VALUES (%s)" % (table, ", ".join("?" * len(cols))), rows)
        c.execute("COMMIT")

    def run(self, sql, key):
        import sqlite3
        self.peer.deadline = time.perf_counter() + self.args.timeout_s
        try:
            return self.peer.conn.execute(sql, {"ns": key[0], "name": key[1]}).fetchall()
        except sqlite3.OperationalError as e:
            if "interrupt" in str(e):
                raise TimeoutError()
            raise
        finally:
            self.peer.deadline = None


class PgEngine(Engine):
    placeholders = ("%(ns)s", "%(name)s")
    true_lit = "TRUE"
    lin_join = "JOIN"

    def execute(self, sql, params=None):
        return self.peer.conn.execute(sql, params)

    def insert(self, table, cols, rows):
        with self.peer.conn.transaction():
            with self.peer.conn.cursor().copy("COPY %s (%s) FROM STDIN" % (table, ", ".join(cols))) as cp:
                for r in rows:
                    cp.write_row(r)

    def run(self, sql, key):
        import psycopg
        try:
            return self.peer.conn.execute(sql, {"ns": key[0], "name": key[1]}, prepare=True).fetchall()
        except psycopg.errors.QueryCanceled:
            raise TimeoutError()


ENGINES = {
    "duckdb": ("peers.duckdb_peer", DuckEngine),
    "sqlite": ("peers.sqlite_peer", SqliteEngine),
    "postgres": ("peers.pg_peer", PgEngine),
}


# --- the run -----------------------------------------------------------------------------------

def tributary_groups(answer):
    """{(product, domain, namespace): (datasets, jobs, owner names)} of Tributary's answer."""
    out = {}
    for g in answer["groups"]:
        key = (g.get("product"), g.get("domain"), g.get("namespace"))
        out[key] = (g["datasetCount"], g["jobCount"], sorted(o["name"] for o in g.get("owners") or []))
    return out


def sql_groups(rows):
    groups, total, page = {}, None, []
    for r in rows:
        if r[0] == "group":
            owners = sorted(x for x in (r[6], r[7]) if x is not None)
            groups[(r[1], r[2], r[3])] = (int(r[4]), int(r[5]), owners)
        elif r[0] == "total":
            total = (int(r[4] or 0), int(r[5] or 0))
        else:
            page.append((r[1], r[3], r[9]))
    return groups, total, page


def compare(hub, trib, rows, page_size):
    """Differences between Tributary's answer and the SQL rows, as sentences."""
    groups, total, page = sql_groups(rows)
    want = tributary_groups(trib)
    diffs = []
    if total != (trib["datasetCount"], trib["jobCount"]):
        diffs.append("totals: SQL %s datasets+jobs, Tributary (%d, %d)" % (total, trib["datasetCount"], trib["jobCount"]))
    if trib.get("truncated"):
        diffs.append("Tributary's walk was truncated by its node limit")
    for key in sorted(set(want) | set(groups), key=repr):
        a, b = groups.get(key), want.get(key)
        if a != b:
            diffs.append("group %s: SQL %s, Tributary %s" % (key, a, b))
    expect_page = min(page_size, trib["datasetCount"] + trib["jobCount"])
    if len(page) != expect_page or len(trib.get("nodes") or []) != expect_page:
        diffs.append("page: SQL %d nodes, Tributary %d, expected %d" % (len(page), len(trib.get("nodes") or []), expect_page))
    return diffs


def start_postgres(src):
    try:
        subprocess.run([os.path.join(src, "pg_cluster.sh"), "start"], check=True, stdout=sys.stderr, stderr=sys.stderr,
                       timeout=120)
        return True
    except Exception as e:  # noqa: BLE001 (any failure: PostgreSQL is left out, and said so)
        log("postgres: pg_cluster.sh start failed (%s); left out" % e)
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--answers", required=True, help="<root>/results/summary/<label>-<scale>.json from the mesh bench")
    ap.add_argument("--src", default="/tmp/lineage-bench/peers-src", help="the peers' folder (imported)")
    ap.add_argument("--peers", default="duckdb,sqlite,postgres")
    ap.add_argument("--keep-db", action="store_true", help="keep the databases (default: delete them at the end)")
    ap.add_argument("--summary-reps", type=int, default=5, help="timed calls per hub after 1 warm-up")
    sys.path.insert(0, os.path.abspath(ap.parse_known_args()[0].src))
    from peers import common  # noqa: E402  (the peers' own front-end and arguments)
    from peers.sql_common import lineage_sql  # noqa: E402
    common.common_args(ap)
    args = ap.parse_args()
    args.timeout_s = max(args.timeout_s, 120.0)
    with open(args.answers) as f:
        answers = json.load(f)
    if answers["scale"] != args.scale:
        raise SystemExit("answers are for scale %s, not %s" % (answers["scale"], args.scale))
    hubs = answers["hubs"]
    page_size = answers["page"]
    domains, namespaces, products, members = mesh_tables(answers["mesh"])
    log("%d hubs, mesh of %d domains, %d products, %d member datasets, %d claimed namespaces"
        % (len(hubs), len(domains), len(products), len(members), len(namespaces)))
    mismatches = 0
    failed = []
    pg_started = False
    for name in [p for p in args.peers.split(",") if p]:
        module, engine_class = ENGINES[name]
        if name == "postgres":
            if not start_postgres(args.src):
                emit(name, args.scale, "summary_status", "postgres cluster did not start", "info")
                continue
            pg_started = True
        import importlib
        Peer = importlib.import_module(module).Peer
        args.peer_label = name + "-summary"  # its own database beside the query peers'
        try:
            peer = Peer(args)
        except Exception as e:  # noqa: BLE001
            log("%s: cannot open (%s); left out" % (name, e))
            emit(name, args.scale, "summary_status", "cannot open: %s" % e, "info")
            continue
        engine = engine_class(name, peer, args)
        log("%s: loading %s with the peers' front-end" % (name, args.data))
        # The peers' ingest lines (under the label `<peer>-summary`) go to stderr: this run's
        # figures are the summary's; the peers' own ingest figures come from run_peers.sh.
        with contextlib.redirect_stdout(sys.stderr):
            n_events, load_s = common.run_ingest(peer, common.Frontend(), args, common.Emitter(args.peer_label, args.scale))
        if n_events is None:
            emit(name, args.scale, "summary_status", "ingest over budget", "info")
            peer.close()
            continue
        t0 = time.perf_counter()
        engine.script(MESH_DDL)
        engine.insert("mesh_domain", ("domain", "owner"), [(d, (o or [None])[0]) for d, o in domains.items()])
        engine.insert("mesh_namespace", ("namespace", "domain"), list(namespaces.items()))
        engine.insert("mesh_product", ("product", "domain", "owner", "restricted"),
                      [(p, d, (o or [None])[0], r) for p, (d, o, r) in products.items()])
        engine.insert("mesh_member_name", ("namespace", "name", "product"), [(ns, n, p) for (ns, n), p in members.items()])
        engine.script(MESH_DERIVE.format(oc="o.is_current" if engine.true_lit == "TRUE" else "o.is_current = 1"))
        if name == "postgres":
            engine.execute("ANALYZE mesh_domain")
            for t in ("mesh_namespace", "mesh_product", "mesh_member", "mesh_job_product"):
                engine.execute("ANALYZE " + t)
        mesh_s = time.perf_counter() - t0
        n_member = engine.execute("SELECT COUNT(*) FROM mesh_member").fetchone()[0]
        n_job = engine.execute("SELECT COUNT(*) FROM mesh_job_product").fetchone()[0]
        emit(name, args.scale, "summary_load_s", round(load_s, 3), "s", events=n_events,
             mesh_tables_s=round(mesh_s, 3), member_datasets=n_member, member_jobs=n_job,
             what="the peers' ingest (same front-end, batches of %d) + the mesh tables" % args.batch_events)
        peer.prepare_queries()
        sql = summary_sql(lineage_sql, engine.placeholders[0], engine.placeholders[1], page_size, engine.true_lit,
                          engine.lin_join)
        medians = []
        for hub in hubs:
            key = (hub["namespace"], hub["name"])
            trib = hub["answer"]
            try:
                rows = engine.run(sql, key)
            except TimeoutError:
                emit(name, args.scale, "summary_hub_ms", None, "ms", target=hub["name"], timeout=True,
                     lower_bound=args.timeout_s * 1000.0)
                continue
            diffs = compare(hub, trib, rows, page_size)
            if diffs:
                mismatches += 1
                for d in diffs:
                    log("MISMATCH %s %s: %s" % (name, hub["name"], d))
                failed.append((name, hub["name"], diffs))
            ms = []
            for _ in range(args.summary_reps):
                t = time.perf_counter()
                try:
                    engine.run(sql, key)
                except TimeoutError:
                    ms.append(args.timeout_s * 1000.0)
                    break
                ms.append((time.perf_counter() - t) * 1000.0)
            med = statistics.median(ms)
            groups, total, _ = sql_groups(rows)
            medians.append((total[0] + total[1], med))
            emit(name, args.scale, "summary_hub_ms", round(med, 3), "ms", target=hub["name"],
                 ms=[round(x, 3) for x in ms], datasets=total[0], jobs=total[1], groups=len(groups),
                 loadavg_1m=os.getloadavg()[0],
                 tributary_grpc_median_ms=hub.get("grpc_median_ms"),
                 tributary_graphql_median_ms=hub.get("graphql_median_ms"),
                 # Calls the server had to walk for (absent in answers of builds before the cache).
                 tributary_grpc_walk_median_ms=hub.get("grpc_walk_median_ms"),
                 tributary_graphql_walk_median_ms=hub.get("graphql_walk_median_ms"), match=not diffs)
            log("%s %s: %.1f ms (%d datasets, %d jobs, %d groups)%s"
                % (name, hub["name"], med, total[0], total[1], len(groups), "" if not diffs else " MISMATCH"))
        if medians:
            medians.sort(reverse=True)
            emit(name, args.scale, "summary_hub_median_ms", round(statistics.median(m for _, m in medians), 3), "ms",
                 hubs=len(medians), largest_ms=round(medians[0][1], 3), largest_nodes=medians[0][0],
                 versions=peer.versions(),
                 what="closure (peers' recursive CTE, full depth) + membership join + group by + totals + page of %d, "
                      "one statement, median of %d calls per hub after 1 warm-up, then over hubs"
                      % (page_size, args.summary_reps))
        peer.close()
        if not args.keep_db:
            if name == "postgres":
                import psycopg
                with psycopg.connect(peer.dsn + " dbname=postgres", autocommit=True) as c:
                    c.execute("DROP DATABASE IF EXISTS %s" % peer.db)
            else:
                for suffix in ("", ".wal", "-wal", "-shm"):
                    if os.path.exists(peer.path + suffix):
                        os.remove(peer.path + suffix)
    if pg_started and os.environ.get("KEEP_PG", "0") != "1":
        subprocess.run([os.path.join(args.src, "pg_cluster.sh"), "stop"], stdout=sys.stderr, stderr=sys.stderr)
    emit("all", args.scale, "summary_crosscheck_mismatches", mismatches, "count",
         compared=len(hubs), reference=answers["peer"], answers=args.answers,
         failed=[{"peer": p, "target": t, "differences": d[:20]} for p, t, d in failed])
    if mismatches:
        log("%d hub answers differ from Tributary's (see MISMATCH lines above)" % mismatches)
        sys.exit(1)


if __name__ == "__main__":
    main()
