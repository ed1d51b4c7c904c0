// Impact of a node: the affected datasets and jobs grouped product -> domain -> owners, with
// counts, a filter that narrows the list to who must act, and a CSV export.

import { gql, showWatermark, WATERMARK } from "./api.js";
import { h, fill, route, nodeRoute, nodeLink, table, fmtNumber, plural, csv, downloadLink, loading } from "./dom.js";

const IMPACT = `query Impact($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int) {
  impact(start: $start, direction: $direction, depth: $depth, limit: $limit) {
    lineage { truncated depth ${WATERMARK} }
    groups {
      product domain namespace owners { name role source } datasetCount jobCount
      datasets { namespace name } jobs { namespace name }
    }
  }
}`;

const MEMBERS_SHOWN = 100;

function domainLabel(group) {
  return group.domain ? `domain ${group.domain}` : group.namespace ? `namespace ${group.namespace}` : "no domain";
}

function ownersText(owners) {
  return owners.map((o) => o.name).join("; ");
}

/** One CSV row per affected node, with its group's product, domain and owners. */
export function impactCsv(groups) {
  const rows = [["product", "domain", "namespace", "owners", "kind", "node_namespace", "node_name"]];
  for (const group of groups) {
    const prefix = [group.product || "", group.domain || "", group.namespace || "", ownersText(group.owners)];
    for (const dataset of group.datasets) rows.push([...prefix, "DATASET", dataset.namespace, dataset.name]);
    for (const job of group.jobs) rows.push([...prefix, "JOB", job.namespace, job.name]);
  }
  return csv(rows);
}

function matches(group, filter) {
  if (!filter) return true;
  const text = filter.toLowerCase();
  return [group.product, group.domain, group.namespace, ...group.owners.map((o) => o.name)]
    .some((value) => value && value.toLowerCase().includes(text));
}

function members(group) {
  const list = [
    ...group.datasets.map((d) => ({ kind: "DATASET", ...d })),
    ...group.jobs.map((j) => ({ kind: "JOB", ...j })),
  ];
  const shown = list.slice(0, MEMBERS_SHOWN);
  return h("div", { class: "members" },
    h("ul", { class: "nodes" }, shown.map((node) => h("li", { dataset: { kind: node.kind } }, node.kind === "JOB" ? "job " : "", nodeLink(node),
      h("span", { class: "muted" }, ` ${node.namespace}`)))),
    list.length > shown.length ? h("p", { class: "muted" }, `and ${fmtNumber(list.length - shown.length)} more (all of them are in the CSV)`) : null);
}

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
  const countText = ([datasets, jobs]) => `${plural(datasets, "dataset")}, ${plural(jobs, "job")}`;
  const products = [...byProduct.entries()].sort(([a], [b]) => (a === "") - (b === "") || a.localeCompare(b));
  return h("div", { id: "impact-tree" }, products.map(([product, domains]) => {
    const all = [...domains.values()].flat();
    return h("details", { class: "impact-product", open: products.length <= 8, dataset: { product } },
      h("summary", null, h("strong", null, product ? `product ${product}` : "outside every product"), h("span", { class: "count" }, countText(count(all)))),
      [...domains.entries()].map(([domain, list]) => h("div", { class: "impact-domain", dataset: { domain } },
        h("h4", null, domain, h("span", { class: "count" }, countText(count(list)))),
        list.map((group) => h("details", { class: "impact-group", dataset: { datasets: String(group.datasetCount), jobs: String(group.jobCount) } },
          h("summary", null,
            h("span", { class: "owners" }, group.owners.length
              ? group.owners.map((o) => h("span", { class: "owner", title: `${o.role ? o.role + ", " : ""}from ${o.source}` }, o.name))
              : h("span", { class: "muted" }, "no owner known")),
            h("span", { class: "count" }, countText([group.datasetCount, group.jobCount]))),
          members(group))))));
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
  if (!rows.length) return h("p", { class: "muted" }, "No owner is known for the affected nodes.");
  return table(["Owner", "Datasets", "Jobs", "Known from"], rows.map((row) => h("tr", { class: "owner-row", dataset: { owner: row.name } },
    h("td", null, h("button", { type: "button", class: "link", onclick: () => onPick(row.name) }, row.name)),
    h("td", null, fmtNumber(row.datasets)), h("td", null, fmtNumber(row.jobs)), h("td", { class: "muted" }, [...row.sources].join("; ")))),
  { id: "impact-owners" });
}

export async function render(main, context) {
  const params = { dir: "DOWNSTREAM", depth: "", ...context.params };
  const kind = params.kind === "JOB" ? "JOB" : "DATASET";
  const start = { kind, namespace: params.ns || "", name: params.name || "" };
  document.title = `Impact of ${start.name} · Tributary`;
  window.tributaryMetrics = window.tributaryMetrics || {};
  window.tributaryMetrics.impactCountsMs = null;
  window.tributaryMetrics.impactStartMs = performance.now();
  main.appendChild(loading("Walking downstream and grouping…"));
  const data = await gql(IMPACT, {
    start, direction: params.dir === "UPSTREAM" ? "UPSTREAM" : params.dir === "BOTH" ? "BOTH" : "DOWNSTREAM",
    depth: params.depth ? Number(params.depth) : null, limit: params.limit ? Number(params.limit) : null,
  }, { signal: context.signal });
  const impact = data.impact;
  showWatermark(impact.lineage.watermark);
  const groups = impact.groups;

  const filter = h("input", { type: "search", id: "impact-filter", placeholder: "Narrow to an owner, product, domain or namespace", value: params.q || "", "aria-label": "filter" });
  const summary = h("p", { id: "impact-summary" });
  const body = h("div");
  const exportSlot = h("span");
  function show() {
    const selected = groups.filter((group) => matches(group, filter.value.trim()));
    context.replace("impact", { ...params, q: filter.value.trim() });
    const datasets = selected.reduce((sum, g) => sum + g.datasetCount, 0);
    const jobs = selected.reduce((sum, g) => sum + g.jobCount, 0);
    const products = new Set(selected.map((g) => g.product).filter(Boolean)).size;
    const domains = new Set(selected.map((g) => g.domain).filter(Boolean)).size;
    const owners = new Set(selected.flatMap((g) => g.owners.map((o) => o.name))).size;
    summary.dataset.datasets = String(datasets);
    summary.dataset.jobs = String(jobs);
    fill(summary,
      h("strong", null, `${plural(datasets, "dataset")} and ${plural(jobs, "job")}`),
      ` affected ${params.dir === "UPSTREAM" ? "upstream" : "downstream"}, in ${plural(products, "product")} and ${plural(domains, "domain")}, ${plural(owners, "owner")} to tell`,
      filter.value.trim() ? ` (narrowed from ${groups.length} groups to ${selected.length})` : "",
      impact.lineage.truncated ? h("strong", { class: "warning" }, " — the walk was cut at the node limit: more are affected") : "");
    fill(exportSlot, downloadLink("Export CSV", `impact-${start.name}.csv`, impactCsv(selected)));
    exportSlot.firstChild.id = "impact-csv";
    fill(body,
      h("section", { class: "card" }, h("h2", null, "Who must act"), ownerTable(selected, (owner) => { filter.value = owner; show(); })),
      h("section", { class: "card" }, h("h2", null, "By product, domain and owners"), selected.length ? tree(selected) : h("p", { class: "muted" }, "Nothing affected.")));
  }
  filter.addEventListener("input", show);
  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Impact of ", h("a", { href: nodeRoute(kind, start.namespace, start.name), id: "impact-start" }, start.name), h("span", { class: "muted" }, ` ${start.namespace}`)),
      summary,
      h("p", { class: "controls" }, filter, " ", exportSlot, " ",
        h("a", { class: "button", href: route("lineage", { kind, ns: start.namespace, name: start.name, dir: params.dir, depth: params.depth }) }, "Lineage graph"))),
    body);
  show();
  window.tributaryMetrics.impactCountsMs = performance.now();
}
