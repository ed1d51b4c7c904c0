// Impact of a node: how many datasets and jobs a change reaches, grouped product -> domain ->
// owners with counts, a filter that narrows the groups to who must act, the affected nodes
// nearest first a page at a time, and CSV exports.
//
// Everything comes from `impactSummary`, whose answer does not grow with the closure: the
// counts, groups and owners arrive in one small answer however many nodes are affected, and
// the node list is paged with its cursor. The summary does not say which group a node is in,
// so the list and the node CSV are the whole impact, never narrowed by the filter.

import { gql, showWatermark, WATERMARK } from "./api.js";
import { h, fill, route, nodeLink, table, fmtNumber, plural, csv, downloadLink, loading, errorBox } from "./dom.js";

const SUMMARY = `query ImpactSummary($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int, $first: Int!) {
  impactSummary(start: $start, direction: $direction, depth: $depth, limit: $limit, first: $first) {
    datasetCount jobCount truncated depth
    groups { product domain namespace datasetCount jobCount owners { name role source } }
    nodes { kind namespace name distance } nextCursor
    ${WATERMARK}
  }
}`;

/** A further page of nodes (the server counts again; only the nodes are asked for). */
const PAGE = `query ImpactPage($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int, $first: Int!, $after: String) {
  impactSummary(start: $start, direction: $direction, depth: $depth, limit: $limit, first: $first, after: $after) {
    nodes { kind namespace name distance } nextCursor watermark { sequence }
  }
}`;

/** Nodes listed at first and added by "load more". */
export const NODES_PAGE = 100;
/** The server's largest page (`first`), used by the CSV export and long deep links. */
export const MAX_PAGE = 1000;
/** The server's default node limit for a walk (`limit` not given). */
const DEFAULT_LIMIT = 10000;

/** Timings the browser tests print: ms since navigation start. */
function recordMetric(name, value) {
  window.tributaryMetrics = window.tributaryMetrics || {};
  window.tributaryMetrics[name] = value;
}

function domainLabel(group) {
  return group.domain ? `domain ${group.domain}` : group.namespace ? `namespace ${group.namespace}` : "no domain";
}

function ownersText(owners) {
  return owners.map((o) => o.name).join("; ");
}

/** One CSV row per group: where, whom to tell, how many datasets and jobs. */
export function groupsCsv(groups) {
  const rows = [["product", "domain", "namespace", "owners", "datasets", "jobs"]];
  for (const group of groups) {
    rows.push([group.product || "", group.domain || "", group.namespace || "", ownersText(group.owners), group.datasetCount, group.jobCount]);
  }
  return csv(rows);
}

/** One CSV row per affected node, nearest first. */
export function nodesCsv(nodes) {
  return csv([["kind", "namespace", "name", "distance"], ...nodes.map((n) => [n.kind, n.namespace, n.name, n.distance])]);
}

function matches(group, filter) {
  if (!filter) return true;
  const text = filter.toLowerCase();
  return [group.product, group.domain, group.namespace, ...group.owners.map((o) => o.name)]
    .some((value) => value && value.toLowerCase().includes(text));
}

const countText = ([datasets, jobs]) => `${plural(datasets, "dataset")}, ${plural(jobs, "job")}`;

function tree(groups) {
  const byProduct = new Map();
  for (const group of groups) {
    const product = group.product || "";
    if (!byProduct.has(product)) byProduct.set(product, new Map());
    const domains = byProduct.get(product);
    const domain = domainLabel(group);
    if (!domains.has(domain)) domains.set(domain, []);
    domains.get(domain).push(group);
  }
  const count = (list) => list.reduce((sum, g) => [sum[0] + g.datasetCount, sum[1] + g.jobCount], [0, 0]);
  const products = [...byProduct.entries()].sort(([a], [b]) => (a === "") - (b === "") || a.localeCompare(b));
  return h("div", { id: "impact-tree" }, products.map(([product, domains]) => {
    const all = [...domains.values()].flat();
    return h("details", { class: "impact-product", open: products.length <= 8, dataset: { product } },
      h("summary", null, h("strong", null, product ? `product ${product}` : "outside every product"), h("span", { class: "count" }, countText(count(all)))),
      [...domains.entries()].map(([domain, list]) => h("div", { class: "impact-domain", dataset: { domain } },
        h("h4", null, domain, h("span", { class: "count" }, countText(count(list)))),
        list.map((group) => h("div", { class: "impact-group", dataset: { datasets: String(group.datasetCount), jobs: String(group.jobCount) } },
          h("span", { class: "owners" }, group.owners.length
            ? group.owners.map((o) => h("span", { class: "owner", title: `${o.role ? o.role + ", " : ""}from ${o.source}` }, o.name))
            : h("span", { class: "muted" }, "no owner declared")),
          h("span", { class: "count" }, countText([group.datasetCount, group.jobCount])))))));
  }));
}

/** Owners across the groups with what each must look at. */
function ownerTable(groups, onPick) {
  const byOwner = new Map();
  for (const group of groups) {
    for (const owner of group.owners) {
      const entry = byOwner.get(owner.name) || { name: owner.name, datasets: 0, jobs: 0, sources: new Set() };
      entry.datasets += group.datasetCount;
      entry.jobs += group.jobCount;
      entry.sources.add(owner.source);
      byOwner.set(owner.name, entry);
    }
  }
  const rows = [...byOwner.values()].sort((a, b) => b.datasets + b.jobs - (a.datasets + a.jobs) || a.name.localeCompare(b.name));
  if (!rows.length) return h("p", { class: "muted" }, "No product or domain of the affected nodes declares an owner.");
  return table(["Owner", "Datasets", "Jobs", "Known from"], rows.map((row) => h("tr", { class: "owner-row", dataset: { owner: row.name } },
    h("td", null, h("button", { type: "button", class: "link", onclick: () => onPick(row.name) }, row.name)),
    h("td", null, fmtNumber(row.datasets)), h("td", null, fmtNumber(row.jobs)), h("td", { class: "muted" }, [...row.sources].join("; ")))),
  { id: "impact-owners" });
}

function nodeItem(node) {
  return h("li", { class: "impact-node", dataset: { kind: node.kind, namespace: node.namespace, name: node.name, distance: String(node.distance) } },
    node.kind === "JOB" ? "job " : "", nodeLink(node),
    h("span", { class: "muted" }, ` ${node.namespace} · distance ${node.distance}`));
}

export async function render(main, context) {
  const params = { dir: "DOWNSTREAM", depth: "", ...context.params };
  const kind = params.kind === "JOB" ? "JOB" : "DATASET";
  const start = { kind, namespace: params.ns || "", name: params.name || "" };
  const direction = params.dir === "UPSTREAM" ? "UPSTREAM" : params.dir === "BOTH" ? "BOTH" : "DOWNSTREAM";
  const limit = params.limit ? Number(params.limit) : null;
  // A link may ask for more of the list than one page (`shown`, from "load more").
  const wanted = Math.max(NODES_PAGE, Number(params.shown) || 0);
  document.title = `Impact of ${start.name} · Tributary`;
  recordMetric("impactCountsMs", null);
  recordMetric("impactStartMs", performance.now());
  main.appendChild(loading("Counting what is affected…"));
  const data = await gql(SUMMARY, {
    start, direction, depth: params.depth ? Number(params.depth) : null, limit, first: Math.min(wanted, MAX_PAGE),
  }, { signal: context.signal });
  const summary = data.impactSummary;
  showWatermark(summary.watermark);
  const groups = summary.groups;
  const total = summary.datasetCount + summary.jobCount;
  // Later pages walk again with the depth the first answer used, and must see the same graph.
  const pageVariables = { start, direction, depth: summary.depth, limit };
  const sequence = String(summary.watermark.sequence);

  const filter = h("input", { type: "search", id: "impact-filter", placeholder: "Narrow to an owner, product, domain or namespace", value: params.q || "", "aria-label": "filter" });
  const counts = h("p", { id: "impact-summary" });
  const body = h("div");
  const groupsExport = h("span");

  // ---- the node list, paged -----------------------------------------------------------------
  const nodes = [...summary.nodes];
  let cursor = summary.nextCursor;
  const list = h("ul", { class: "nodes", id: "impact-nodes" }, nodes.map(nodeItem));
  const listStatus = h("p", { id: "impact-nodes-status", class: "muted" });
  const moreButton = h("button", { type: "button", id: "impact-more" }, `Load ${NODES_PAGE} more`);
  const listError = h("div");
  let changed = null;
  function showListStatus() {
    listStatus.dataset.shown = String(nodes.length);
    listStatus.dataset.total = String(total);
    fill(listStatus, `${fmtNumber(nodes.length)} of ${fmtNumber(total)} shown, nearest first`,
      changed ? h("strong", { class: "warning", id: "impact-changed" }, ` — the lineage changed since the counts (events up to #${fmtNumber(changed)}): reload for a consistent list`) : "");
    moreButton.hidden = !cursor;
  }
  function checkWatermark(watermark) {
    if (String(watermark.sequence) !== sequence) changed = watermark.sequence;
  }
  let fetching = false;
  async function loadMore(count) {
    if (!cursor || fetching) return;
    fetching = true;
    moreButton.disabled = true;
    fill(listError);
    try {
      while (cursor && count > 0) {
        const first = Math.min(count, MAX_PAGE);
        const page = (await gql(PAGE, { ...pageVariables, first, after: cursor }, { signal: context.signal })).impactSummary;
        checkWatermark(page.watermark);
        nodes.push(...page.nodes);
        for (const node of page.nodes) list.appendChild(nodeItem(node));
        cursor = page.nextCursor;
        count -= first;
      }
    } catch (error) {
      if (error.name !== "AbortError") fill(listError, errorBox(error));
    } finally {
      fetching = false;
      moreButton.disabled = false;
      showListStatus();
      context.replace("impact", currentParams());
    }
  }
  moreButton.addEventListener("click", () => loadMore(NODES_PAGE));

  // ---- every node as CSV: pages of the server's largest size, bounded by its node limit ----
  const nodesExport = h("span", { id: "impact-csv-slot" });
  const exportButton = h("button", { type: "button", id: "impact-export" }, "Export nodes (CSV)");
  let exporting = false;
  exportButton.addEventListener("click", async () => {
    if (exporting) return;
    exporting = true;
    exportButton.disabled = true;
    const all = [];
    const seen = new Set();
    let after = null;
    let moved = null;
    try {
      do {
        fill(nodesExport, h("span", { class: "muted", id: "impact-export-progress" }, ` fetching ${fmtNumber(all.length)} of ${fmtNumber(total)}…`));
        const page = (await gql(PAGE, { ...pageVariables, first: MAX_PAGE, after }, { signal: context.signal })).impactSummary;
        if (String(page.watermark.sequence) !== sequence) moved = page.watermark.sequence;
        for (const node of page.nodes) {
          const key = `${node.kind}\u0000${node.namespace}\u0000${node.name}`;
          if (!seen.has(key)) { seen.add(key); all.push(node); }
        }
        after = page.nextCursor;
      } while (after);
      const link = downloadLink(`Download ${plural(all.length, "node")}`, `impact-nodes-${start.name}.csv`, nodesCsv(all));
      link.id = "impact-csv";
      link.dataset.rows = String(all.length);
      fill(nodesExport, " ", link,
        moved ? h("strong", { class: "warning" }, ` the lineage changed while exporting (events up to #${fmtNumber(moved)}): export again for a consistent list`) : "");
      link.click();
    } catch (error) {
      if (error.name !== "AbortError") fill(nodesExport, errorBox(error));
    } finally {
      exporting = false;
      exportButton.disabled = false;
    }
  });

  const currentParams = () => ({
    ...params, q: filter.value.trim(), shown: nodes.length > NODES_PAGE ? nodes.length : "",
  });

  function show() {
    const text = filter.value.trim();
    const selected = groups.filter((group) => matches(group, text));
    context.replace("impact", currentParams());
    const datasets = selected.reduce((sum, g) => sum + g.datasetCount, 0);
    const jobs = selected.reduce((sum, g) => sum + g.jobCount, 0);
    const products = new Set(selected.map((g) => g.product).filter(Boolean)).size;
    const domains = new Set(selected.map((g) => g.domain).filter(Boolean)).size;
    const owners = new Set(selected.flatMap((g) => g.owners.map((o) => o.name))).size;
    counts.dataset.datasets = String(datasets);
    counts.dataset.jobs = String(jobs);
    const usedLimit = limit || DEFAULT_LIMIT;
    fill(counts,
      h("strong", null, `${plural(datasets, "dataset")} and ${plural(jobs, "job")}`),
      ` affected ${direction === "UPSTREAM" ? "upstream" : direction === "BOTH" ? "upstream and downstream" : "downstream"} within depth ${summary.depth}, in ${plural(products, "product")} and ${plural(domains, "domain")}, ${plural(owners, "owner")} to tell`,
      text ? ` (narrowed from ${groups.length} groups to ${selected.length})` : "",
      summary.truncated ? h("strong", { class: "warning", id: "impact-truncated" }, ` — the walk stopped at ${fmtNumber(usedLimit)} nodes: more are affected. `,
        usedLimit * 10 <= 1000000 ? h("a", { href: route("impact", { ...currentParams(), limit: usedLimit * 10, shown: "" }) }, `Count up to ${fmtNumber(usedLimit * 10)}`) : null) : "");
    fill(groupsExport, downloadLink("Export groups (CSV)", `impact-groups-${start.name}.csv`, groupsCsv(selected)));
    groupsExport.firstChild.id = "impact-groups-csv";
    fill(body,
      h("section", { class: "card" }, h("h2", null, "Who must act"),
        h("p", { class: "muted" }, "Owners declared by the affected products and domains (a dataset's own ownership facet is on its page)."),
        ownerTable(selected, (owner) => { filter.value = owner; show(); })),
      h("section", { class: "card" }, h("h2", null, "By product, domain and owners"), selected.length ? tree(selected) : h("p", { class: "muted" }, "Nothing affected.")));
  }
  filter.addEventListener("input", show);
  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Impact of ", Object.assign(nodeLink(start), { id: "impact-start" }), h("span", { class: "muted" }, ` ${start.namespace}`)),
      counts,
      h("p", { class: "controls" }, filter, " ", groupsExport, " ",
        h("a", { class: "button", href: route("lineage", { kind, ns: start.namespace, name: start.name, dir: params.dir, depth: params.depth }) }, "Lineage graph"))),
    body,
    h("section", { class: "card", id: "impact-list" },
      h("h2", null, "Affected nodes"),
      h("p", { class: "muted" }, "Every affected dataset and job, nearest first; the filter above narrows the groups, not this list."),
      list, listStatus, listError,
      h("p", { class: "controls" }, moreButton, exportButton, nodesExport)));
  show();
  showListStatus();
  recordMetric("impactCountsMs", performance.now());
  // The rest of a long list a link asked for follows the counts.
  if (nodes.length < wanted && cursor) await loadMore(wanted - nodes.length);
}
