// Change check: paste a proposed schema (OpenLineage schema facet JSON or a dbt models YAML)
// for a dataset and get the report `tributary check` prints, with each affected column's
// path drawn as a graph. The schema is kept in the URL, so a check can be shared.

import { gql, showWatermark, WATERMARK, NODE } from "./api.js";
import { h, fill, route, nodeRoute, nodeLink, badge, table, section, fmtNumber, errorBox, loading } from "./dom.js";
import { renderGraph } from "./graph.js";

const CHECK = `query Check($dataset: DatasetInput!, $schema: String!, $format: SchemaFormat!, $dbtModel: String) {
  checkChange(dataset: $dataset, schema: $schema, format: $format, dbtModel: $dbtModel) {
    dataset { ${NODE} } baseline verdict
    changes {
      path kind rule before after verdict summary positionalRisk readers writers
      impacts { dataset { ${NODE} } field job { ${NODE} } distance use source path }
    }
    unsupported { check reason }
    affectedDatasets { ${NODE} } affectedJobs { ${NODE} }
    groups { product domain namespace owners { name role source } datasetCount jobCount }
    markdown
    ${WATERMARK}
  }
}`;

const CURRENT = `query Current($ns: String!, $name: String!) {
  dataset(namespace: $ns, name: $name) { currentSchema { rawFields } ${WATERMARK} }
}`;

/**
 * The graph of every impact path: each step a node, the changed column first, each reached
 * column (or a dataset whose columns are unknown) marked by its use.
 */
export function pathGraph(changes) {
  const nodes = new Map();
  const edges = new Map();
  const useRank = { DIRECT: 4, INDIRECT: 3, UNVERIFIED: 2, DATASET: 1 };
  const addNode = (id, cls, extra = {}) => {
    const existing = nodes.get(id);
    const rank = extra.rank || 0;
    if (existing && existing.rank >= rank) return;
    nodes.set(id, { id, label: id, cls: `column ${cls}`, rank, title: extra.title || id, data: { step: id, ...(extra.data || {}) } });
  };
  const addEdge = (from, to, cls) => {
    const key = `${from}\u0001${to}`;
    if (!edges.has(key) || cls === "highlight") edges.set(key, { from, to, cls });
  };
  for (const change of changes) {
    for (const impact of change.impacts) {
      const dataset = `${impact.dataset.namespace}:${impact.dataset.name}`;
      const steps = impact.path.length ? impact.path.slice() : [change.path || "(dataset)"];
      const reachedColumn = impact.field && (impact.use === "DIRECT" || impact.use === "INDIRECT");
      if (!reachedColumn) steps.push(`${dataset}${impact.field ? "." + impact.field : ""} (${impact.use === "DATASET" ? "dataset" : "columns unknown"})`);
      const use = impact.use.toLowerCase();
      steps.forEach((step, index) => {
        const last = index === steps.length - 1;
        if (last) {
          addNode(step, `affected ${use}`, {
            rank: useRank[impact.use] || 0,
            title: `${impact.use}${impact.job ? " through " + impact.job.name : ""}`,
            data: { dataset, field: impact.field || "", use: impact.use },
          });
        } else {
          addNode(step, index === 0 ? "changed" : "via");
        }
        if (index > 0) addEdge(steps[index - 1], step, last && impact.use !== "DIRECT" ? use : "highlight");
      });
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

function changesTable(changes) {
  return table(["Path", "Change", "Before", "After", "Verdict", "Rule", "Why", "Reaches"],
    changes.map((c) => h("tr", { class: "change", dataset: { path: c.path, verdict: c.verdict } },
      h("td", { class: "mono" }, c.path || "(dataset)"), h("td", null, c.kind), h("td", { class: "mono" }, c.before || ""), h("td", { class: "mono" }, c.after || ""),
      h("td", null, badge(c.verdict), c.positionalRisk ? h("span", { class: "muted" }, " positional") : null),
      h("td", null, String(c.rule)), h("td", null, c.summary), h("td", null, String(c.impacts.length)))),
    { id: "check-changes" });
}

function impactsTable(changes) {
  const rows = changes.flatMap((change) => change.impacts.map((impact) => h("tr", { class: "check-impact", dataset: { use: impact.use, dataset: `${impact.dataset.namespace}:${impact.dataset.name}`, field: impact.field || "" } },
    h("td", { class: "mono" }, change.path || "(dataset)"),
    h("td", null, nodeLink(impact.dataset)), h("td", { class: "mono" }, impact.field || "—"), h("td", null, badge(impact.use)),
    h("td", null, impact.job ? nodeLink(impact.job) : "—"), h("td", null, String(impact.distance)), h("td", null, impact.source || "—"),
    h("td", { class: "path" }, impact.path.join(" → ")))));
  if (!rows.length) return h("p", { class: "muted" }, "No breaking or risky change reaches anything downstream.");
  return table(["Change", "Dataset", "Column", "Use", "Job", "Distance", "Lineage source", "Path"], rows, { id: "check-impacts" });
}

function groupsTable(groups) {
  if (!groups.length) return h("p", { class: "muted" }, "Nobody to tell.");
  return table(["Product", "Domain", "Owners", "Datasets", "Jobs"], groups.map((g) => h("tr", { class: "check-group" },
    h("td", null, g.product ? h("a", { href: route("product", { id: g.product }) }, g.product) : "—"),
    h("td", null, g.domain || (g.namespace ? `namespace ${g.namespace}` : "—")),
    h("td", null, g.owners.map((o) => o.name).join(", ") || "—"), h("td", null, fmtNumber(g.datasetCount)), h("td", null, fmtNumber(g.jobCount)))),
  { id: "check-groups" });
}

export async function render(main, context) {
  const params = { ns: "", name: "", format: "OPENLINEAGE", model: "", schema: "", ...context.params };
  document.title = `Check a change${params.name ? " to " + params.name : ""} · Tributary`;
  const namespace = h("input", { id: "check-ns", placeholder: "namespace", value: params.ns, "aria-label": "namespace" });
  const name = h("input", { id: "check-name", placeholder: "dataset name", value: params.name, "aria-label": "dataset name" });
  const format = h("select", { id: "check-format", "aria-label": "format" },
    h("option", { value: "OPENLINEAGE", selected: params.format !== "DBT" }, "OpenLineage schema facet (JSON)"),
    h("option", { value: "DBT", selected: params.format === "DBT" }, "dbt models YAML"));
  const model = h("input", { id: "check-model", placeholder: "dbt model (when the YAML has several)", value: params.model, "aria-label": "dbt model" });
  const schema = h("textarea", { id: "check-schema", rows: 12, spellcheck: "false", placeholder: '{"fields": [{"name": "order_id", "type": "bigint"}]}', "aria-label": "proposed schema" });
  schema.value = params.schema;
  const result = h("div", { id: "check-result" });

  async function fillCurrent() {
    try {
      const data = await gql(CURRENT, { ns: namespace.value.trim(), name: name.value.trim() }, { signal: context.signal });
      if (!data.dataset || !data.dataset.currentSchema) {
        fill(result, errorBox(new Error("that dataset has no known schema")));
        return;
      }
      format.value = "OPENLINEAGE";
      schema.value = JSON.stringify({ fields: data.dataset.currentSchema.rawFields }, null, 2);
    } catch (error) {
      if (error.name !== "AbortError") fill(result, errorBox(error));
    }
  }

  async function run() {
    const variables = {
      dataset: { namespace: namespace.value.trim(), name: name.value.trim() },
      schema: schema.value, format: format.value, dbtModel: model.value.trim() || null,
    };
    context.replace("check", { ns: variables.dataset.namespace, name: variables.dataset.name, format: format.value, model: model.value.trim(), schema: schema.value });
    fill(result, loading("Checking…"));
    try {
      const data = await gql(CHECK, variables, { signal: context.signal });
      const report = data.checkChange;
      showWatermark(report.watermark);
      const graphHost = h("div", { id: "check-graph", class: "graph-host small" });
      const graph = pathGraph(report.changes);
      fill(result,
        h("section", { class: "card", id: "check-report", dataset: { verdict: report.verdict } },
          h("h2", null, "Verdict: ", badge(report.verdict, report.verdict)),
          h("p", null, `${report.changes.length} change${report.changes.length === 1 ? "" : "s"} against schema ${report.baseline.slice(0, 12)} of `,
            nodeLink(report.dataset), `; ${fmtNumber(report.affectedDatasets.length)} datasets and ${fmtNumber(report.affectedJobs.length)} jobs affected.`),
          changesTable(report.changes),
          report.unsupported.length ? h("ul", { class: "muted" }, report.unsupported.map((u) => h("li", null, `${u.check}: ${u.reason}`))) : null),
        graph.nodes.length ? section("Affected column paths", graphHost) : null,
        section("What it reaches", impactsTable(report.changes)),
        section("Who must be told", groupsTable(report.groups)),
        h("section", { class: "card" }, h("details", null, h("summary", null, "Markdown for the pull request"), h("pre", { id: "check-markdown", class: "json" }, report.markdown))));
      if (graph.nodes.length) renderGraph(graphHost, { ...graph, ariaLabel: "affected column paths" }, { ranksep: 60 });
    } catch (error) {
      if (error.name !== "AbortError") fill(result, errorBox(error));
    }
  }

  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Check a schema change"),
      h("p", { class: "muted" }, "What breaks downstream, where, owned by whom: the same report as ", h("code", null, "tributary check"), "."),
      h("form", { class: "check-form", onsubmit: (event) => { event.preventDefault(); run(); } },
        h("div", { class: "row" }, namespace, name,
          params.ns && params.name ? h("a", { href: nodeRoute("DATASET", params.ns, params.name) }, "dataset page") : null),
        h("div", { class: "row" }, format, model,
          h("button", { type: "button", id: "check-current", onclick: fillCurrent }, "Start from the current schema")),
        schema,
        h("div", { class: "row" }, h("button", { type: "submit", id: "check-run", class: "primary" }, "Check")))),
    result);
  if (params.schema && params.ns && params.name) await run();
}
