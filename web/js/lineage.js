// The lineage graph around a node (upstream, downstream or both; depth; datasets only; fan-out
// collapsed into counted groups) and the column lineage graph of one column.

import { gql, showWatermark, WATERMARK, NODE } from "./api.js";
import { h, fill, route, nodeRoute, nodeKey, nodeLink, isRedacted, redactedNote, badge, table, section, fmtNumber, errorBox, loading } from "./dom.js";
import { renderGraph } from "./graph.js";
import { buildModel, visibleGraph, GROUP_PAGE } from "./collapse.js";

const IMPACT = `query LineageGraph($start: NodeInput!, $direction: Direction!, $depth: Int, $limit: Int) {
  impact(start: $start, direction: $direction, depth: $depth, limit: $limit) {
    lineage {
      nodes { kind namespace name distance }
      edges { from { ${NODE} } to { ${NODE} } kind }
      truncated depth ${WATERMARK}
    }
    groups { product domain namespace datasets { namespace name } jobs { namespace name } }
  }
}`;

const TRACE = `query Trace($dataset: DatasetInput!, $field: String!, $direction: Direction!) {
  columnLineage(dataset: $dataset, field: $field, direction: $direction) {
    columns { column { namespace name field } use masked }
    unverified { dataset { namespace name } }
    ${WATERMARK}
  }
}`;

/** How a traced column reaches each dataset, the strongest use first. */
const TRACE_RANK = { direct: 4, masked: 3, indirect: 2, unverified: 1 };

const COLUMNS_OF = `query Columns($ns: String!, $name: String!) {
  dataset(namespace: $ns, name: $name) { currentSchema { fields { name type } } }
}`;

/** The first answer is cut at this many nodes so that the page paints at once; the rest
 * follows (up to the "max nodes" setting). */
export const FIRST_ANSWER_NODES = 1500;
const DEFAULTS = { dir: "DOWNSTREAM", depth: "3", group: "product", bound: "12", limit: "20000", dso: "" };

/** Timings the browser tests print: ms since navigation start. */
function recordMetric(name, value) {
  window.tributaryMetrics = window.tributaryMetrics || {};
  window.tributaryMetrics[name] = value;
}

function afterPaint(callback) {
  requestAnimationFrame(() => setTimeout(callback, 0));
}

function parseExpanded(text) {
  try {
    const pairs = JSON.parse(text || "[]");
    return new Map(pairs.filter((pair) => Array.isArray(pair) && typeof pair[0] === "string").map(([id, shown]) => [id, Number(shown) || GROUP_PAGE]));
  } catch {
    return new Map();
  }
}

function groupTitle(node) {
  const what = [node.datasets ? `${fmtNumber(node.datasets)} datasets` : null, node.jobs ? `${fmtNumber(node.jobs)} jobs` : null].filter(Boolean).join(" and ");
  return `${what} in ${node.groupKind} ${node.label}${node.note}: click to show them (${GROUP_PAGE} at a time)`;
}

export async function render(main, context) {
  const params = { ...DEFAULTS, ...context.params };
  const kind = params.kind === "JOB" ? "JOB" : "DATASET";
  const start = { kind, namespace: params.ns || "", name: params.name || "" };
  const startKey = nodeKey(kind, start.namespace, start.name);
  const expanded = parseExpanded(params.x);
  document.title = `Lineage of ${start.name} · Tributary`;
  recordMetric("lineageFirstPaintMs", null);
  recordMetric("lineageCompleteMs", null);

  const select = (name, options, value) => h("select", { name, id: `lineage-${name}`, "aria-label": name },
    options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)));
  const direction = select("dir", [["DOWNSTREAM", "downstream"], ["UPSTREAM", "upstream"], ["BOTH", "both"]], params.dir);
  const depth = h("input", { type: "number", name: "depth", id: "lineage-depth", min: 1, max: 50, value: params.depth, "aria-label": "depth" });
  const datasetsOnly = h("input", { type: "checkbox", name: "dso", id: "lineage-dso", checked: params.dso === "1" });
  const groupBy = select("group", [["product", "product"], ["domain", "domain"], ["namespace", "namespace"], ["prefix", "name prefix"]], params.group);
  const bound = h("input", { type: "number", name: "bound", id: "lineage-bound", min: 1, max: 200, value: params.bound, "aria-label": "collapse beyond" });
  const limit = h("input", { type: "number", name: "limit", id: "lineage-limit", min: 1, max: 1000000, step: 1000, value: params.limit, "aria-label": "max nodes" });
  const status = h("p", { id: "lineage-status", class: "muted", "aria-live": "polite" });
  const canvas = h("div", { id: "lineage-graph", class: "graph-host" });
  const panel = h("aside", { id: "lineage-panel", class: "side-panel" }, h("p", { class: "muted" }, "Click a node for details; click a group to expand it."));

  let model = null;
  let answer = null;
  let partial = false;
  /** A column followed on the graph: {startKey, field, uses: Map dataset key -> use}. */
  let trace = null;

  /** Marks the drawn datasets a traced column reaches, by how it reaches them. */
  function applyTrace() {
    for (const element of canvas.querySelectorAll("g.node[data-type=node]")) {
      for (const use of Object.keys(TRACE_RANK)) element.classList.remove(`trace-${use}`);
      element.classList.remove("trace-start");
      if (!trace) continue;
      if (element.dataset.id === trace.startKey) element.classList.add("trace-start");
      const use = trace.uses.get(element.dataset.id);
      if (use) element.classList.add(`trace-${use}`);
    }
  }

  async function traceColumn(node, field, into) {
    const traceDirection = direction.value === "UPSTREAM" ? "UPSTREAM" : "DOWNSTREAM";
    fill(into, loading(`Following ${field}…`));
    try {
      const data = await gql(TRACE, { dataset: { namespace: node.namespace, name: node.name }, field, direction: traceDirection }, { signal: context.signal });
      const result = data.columnLineage;
      const uses = new Map();
      const keep = (key, use) => { if ((TRACE_RANK[use] || 0) > (TRACE_RANK[uses.get(key)] || 0)) uses.set(key, use); };
      for (const reached of result.columns) {
        keep(nodeKey("DATASET", reached.column.namespace, reached.column.name), reached.use === "INDIRECT" ? "indirect" : reached.masked ? "masked" : "direct");
      }
      for (const consumer of result.unverified) keep(nodeKey("DATASET", consumer.dataset.namespace, consumer.dataset.name), "unverified");
      uses.delete(node.key);
      trace = { startKey: node.key, field, uses };
      applyTrace();
      const drawn = [...uses.keys()].filter((key) => [...canvas.querySelectorAll("g.node[data-type=node]")].some((g) => g.dataset.id === key)).length;
      fill(into,
        h("p", { id: "trace-summary", dataset: { datasets: String(uses.size), drawn: String(drawn) } },
          h("strong", null, `${field}`), ` ${traceDirection === "UPSTREAM" ? "comes from" : "reaches"} ${result.columns.length} columns in ${uses.size} datasets (${drawn} drawn here)`),
        h("ul", { class: "trace-legend" },
          h("li", { class: "key trace-direct" }, "DIRECT: carries the value"),
          h("li", { class: "key trace-masked" }, "masked"),
          h("li", { class: "key trace-indirect" }, "INDIRECT: influences it"),
          h("li", { class: "key trace-unverified" }, "columns unknown")),
        h("p", null, h("a", { href: route("columns", { ns: node.namespace, name: node.name, field, dir: traceDirection }) }, "Column graph"), " · ",
          h("button", { type: "button", class: "link", id: "trace-clear", onclick: () => { trace = null; applyTrace(); fill(into); } }, "Clear")));
    } catch (error) {
      if (error.name !== "AbortError") fill(into, errorBox(error));
    }
  }

  const currentParams = () => ({
    kind, ns: start.namespace, name: start.name, dir: direction.value, depth: depth.value, dso: datasetsOnly.checked,
    group: groupBy.value, bound: bound.value, limit: limit.value,
    x: expanded.size ? JSON.stringify([...expanded.entries()]) : "",
  });

  function draw() {
    if (!answer) return;
    model = buildModel(answer, { datasetsOnly: datasetsOnly.checked, startKey });
    const began = performance.now();
    const visible = visibleGraph(model, {
      startKey, direction: direction.value, bound: Math.max(1, Number(bound.value) || 12), groupBy: groupBy.value, expanded, maxVisible: 250,
    });
    const graph = {
      ariaLabel: `lineage of ${start.namespace}:${start.name}`,
      nodes: visible.nodes.map((node) => graphNode(node)),
      edges: visible.edges.map((edge) => {
        const via = model.via.get(`${edge.from}\u0001${edge.to}`);
        return { from: edge.from, to: edge.to, cls: edge.group ? "to-group" : model.datasetsOnly ? "derived" : "", title: via ? `through ${via.join(", ")}` : undefined };
      }),
    };
    const drawn = renderGraph(canvas, graph, { focusId: startKey });
    applyTrace();
    const drawnNodes = visible.nodes.filter((n) => n.type === "node").length;
    const groups = visible.nodes.filter((n) => n.type === "group" || n.type === "more").length;
    canvas.dataset.nodes = String(drawnNodes);
    canvas.dataset.groups = String(groups);
    canvas.dataset.partial = partial ? "1" : "0";
    const total = model.nodes.size - 1;
    const lineage = answer.lineage;
    fill(status,
      `${fmtNumber(total)} ${datasetsOnly.checked ? "datasets" : "nodes"} ${direction.value.toLowerCase()} within depth ${lineage.depth}`,
      groups ? `; ${fmtNumber(drawnNodes - 1)} drawn, the rest behind ${fmtNumber(groups)} collapsed group${groups === 1 ? "" : "s"} (click one to open it)` : "",
      partial ? h("strong", { id: "lineage-partial" }, ` — first ${fmtNumber(FIRST_ANSWER_NODES)} nodes shown, loading the rest…`) : "",
      !partial && lineage.truncated ? h("strong", { id: "lineage-truncated" }, ` — cut at ${fmtNumber(Number(limit.value))} nodes (raise “max nodes”)`) : "",
      visible.capped ? h("strong", { id: "lineage-capped" }, " — drawing stopped at 250 nodes: collapse groups or lower the depth") : "",
      h("span", { class: "timing" }, ` · layout ${Math.round(drawn.layoutMs)} ms, total ${Math.round(performance.now() - began)} ms`));
  }

  function graphNode(node) {
    if (node.type === "group") {
      return {
        id: node.key, label: `${node.label}`, sublabel: `${fmtNumber(node.total)}${partial ? "+" : ""} ${node.datasets && node.jobs ? "nodes" : node.jobs ? "jobs" : "datasets"} · ${node.groupKind}${node.note}`,
        cls: `group group-${node.groupKind.replace(/ /g, "-")}`, title: groupTitle(node),
        data: { type: "group", count: String(node.total), label: node.label, groupKind: node.groupKind },
        onClick: () => { expanded.set(node.groupId, GROUP_PAGE); context.replace("lineage", currentParams()); draw(); showGroup(node); },
      };
    }
    if (node.type === "more") {
      return {
        id: node.key, label: `+${fmtNumber(node.remaining)} more`, sublabel: `${node.label} (${node.shown} of ${fmtNumber(node.total)} shown)`,
        cls: "more", title: "Click to show more of this group",
        data: { type: "more", remaining: String(node.remaining) },
        onClick: () => { expanded.set(node.groupId, node.shown + GROUP_PAGE); context.replace("lineage", currentParams()); draw(); },
      };
    }
    const isStart = node.key === startKey;
    const redacted = isRedacted(node);
    return {
      id: node.key, label: node.name, sublabel: node.namespace,
      cls: `${node.kind === "JOB" ? "job" : "dataset"}${isStart ? " start" : ""}${redacted ? " redacted" : ""}`,
      title: `${node.kind.toLowerCase()} ${node.namespace}:${node.name} (distance ${node.distance})${redacted ? `: ${redactedNote(node)}` : ""}`,
      data: { type: "node", kind: node.kind, namespace: node.namespace, name: node.name, distance: String(node.distance) },
      onClick: () => showNode(node),
    };
  }

  function showGroup(node) {
    fill(panel, h("h3", null, `${node.groupKind} ${node.label}${node.note}`),
      h("p", null, groupTitle(node).split(":")[0]),
      h("p", { class: "muted" }, "Expanded in the graph; “+N more” shows the next members."));
  }

  async function showNode(node) {
    const nodeStart = { kind: node.kind, ns: node.namespace, name: node.name };
    const columns = h("div", { id: "panel-columns" });
    const traced = h("div", { id: "panel-trace" });
    if (isRedacted(node)) {
      // No page, columns or change check: the server refuses them. Its lineage and impact
      // may start from it (it stays redacted).
      fill(panel,
        h("p", { class: "muted" }, badge("dataset"), ` distance ${node.distance}`),
        h("h3", { id: "panel-name", class: "redacted" }, node.name),
        h("p", { class: "muted" }, node.namespace),
        h("p", { id: "panel-redacted" }, `Restricted: ${redactedNote(node)}.`),
        h("ul", { class: "panel-actions" },
          h("li", null, h("a", { href: route("lineage", { ...currentParams(), ...nodeStart, x: "" }) }, "Centre the graph here")),
          h("li", null, h("a", { href: route("impact", nodeStart) }, "Impact"))));
      return;
    }
    fill(panel,
      h("p", { class: "muted" }, badge(node.kind === "JOB" ? "job" : "dataset"), ` distance ${node.distance}`),
      h("h3", { id: "panel-name" }, node.name),
      h("p", { class: "muted" }, node.namespace),
      h("ul", { class: "panel-actions" },
        h("li", null, h("a", { href: nodeRoute(node.kind, node.namespace, node.name) }, "Open its page")),
        h("li", null, h("a", { href: route("lineage", { ...currentParams(), ...nodeStart, x: "" }) }, "Centre the graph here")),
        h("li", null, h("a", { href: route("impact", nodeStart) }, "Impact")),
        node.kind === "DATASET" ? h("li", null, h("a", { href: route("check", { ns: node.namespace, name: node.name }) }, "Check a schema change")) : null),
      columns, traced);
    if (node.kind !== "DATASET") return;
    fill(columns, loading("Columns…"));
    try {
      const data = await gql(COLUMNS_OF, { ns: node.namespace, name: node.name }, { signal: context.signal });
      const schema = data.dataset && data.dataset.currentSchema;
      fill(columns, h("h4", null, "Columns"), h("p", { class: "muted" }, "Click one to follow it on this graph."), schema
        ? h("ul", { class: "columns-list" }, schema.fields.map((field) => h("li", null,
          h("button", { type: "button", class: "link column-trace", dataset: { field: field.name }, onclick: () => traceColumn(node, field.name, traced) }, field.name),
          h("span", { class: "muted mono" }, ` ${field.type || ""} `),
          h("a", { href: route("columns", { ns: node.namespace, name: node.name, field: field.name, dir: direction.value === "UPSTREAM" ? "UPSTREAM" : "DOWNSTREAM" }), class: "column-link", title: "column lineage graph" }, "graph"))))
        : h("p", { class: "muted" }, "No schema known."));
    } catch (error) {
      if (error.name !== "AbortError") fill(columns, errorBox(error));
    }
  }

  let generation = 0;
  async function load() {
    // A newer load (settings changed meanwhile) wins over an older one still answering.
    const mine = ++generation;
    const requested = Math.max(1, Number(limit.value) || 20000);
    const variables = {
      start, direction: direction.value, depth: Math.max(1, Number(depth.value) || 3), limit: Math.min(FIRST_ANSWER_NODES, requested),
    };
    fill(status, loading("Walking the lineage…"));
    const first = await gql(IMPACT, variables, { signal: context.signal });
    if (mine !== generation) return;
    answer = first.impact;
    partial = answer.lineage.truncated && requested > FIRST_ANSWER_NODES;
    showWatermark(answer.lineage.watermark);
    if (!answer.lineage.nodes.some((n) => nodeKey(n.kind, n.namespace, n.name) === startKey)) {
      fill(canvas, h("p", { class: "error", id: "lineage-unknown" }, `No ${kind.toLowerCase()} ${start.namespace}:${start.name} is known at this watermark.`));
      fill(status);
      return;
    }
    draw();
    afterPaint(() => recordMetric("lineageFirstPaintMs", performance.now()));
    if (!partial) {
      afterPaint(() => recordMetric("lineageCompleteMs", performance.now()));
      return;
    }
    const full = await gql(IMPACT, { ...variables, limit: requested }, { signal: context.signal });
    if (mine !== generation) return;
    answer = full.impact;
    partial = false;
    showWatermark(answer.lineage.watermark);
    draw();
    afterPaint(() => recordMetric("lineageCompleteMs", performance.now()));
  }

  const reload = () => {
    context.replace("lineage", currentParams());
    load().catch((error) => { if (error.name !== "AbortError") fill(canvas, errorBox(error)); });
  };
  const redraw = () => {
    expanded.clear();
    context.replace("lineage", currentParams());
    fill(panel, h("p", { class: "muted" }, "Click a node for details; click a group to expand it."));
    draw();
  };
  direction.addEventListener("change", () => { expanded.clear(); reload(); });
  depth.addEventListener("change", reload);
  limit.addEventListener("change", reload);
  datasetsOnly.addEventListener("change", redraw);
  groupBy.addEventListener("change", redraw);
  bound.addEventListener("change", redraw);

  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Lineage of ", Object.assign(nodeLink(start), { id: "lineage-start" }),
        h("span", { class: "muted" }, ` ${start.namespace}`)),
      h("form", { class: "controls", onsubmit: (event) => { event.preventDefault(); reload(); } },
        h("label", null, "Direction ", direction),
        h("label", null, "Depth ", depth),
        h("label", { class: "check" }, datasetsOnly, " datasets only"),
        h("label", null, "Group by ", groupBy),
        h("label", null, "Collapse beyond ", bound),
        h("label", null, "Max nodes ", limit),
        h("button", { type: "button", id: "lineage-collapse", onclick: redraw }, "Collapse all"),
        h("a", { class: "button", href: route("impact", { kind, ns: start.namespace, name: start.name, dir: params.dir === "UPSTREAM" ? "UPSTREAM" : "DOWNSTREAM", depth: params.depth }) }, "Impact report")),
      status,
      h("div", { class: "legend" },
        h("span", { class: "key dataset" }, "dataset"), h("span", { class: "key job" }, "job"),
        h("span", { class: "key group" }, "collapsed group (click)"), h("span", { class: "key more" }, "more of a group"))),
    h("div", { class: "graph-layout" }, canvas, panel));
  await load();
}

// ---- column lineage ---------------------------------------------------------------------------

const COLUMN_LINEAGE = `query ColumnGraph($dataset: DatasetInput!, $field: String!, $direction: Direction!, $depth: Int, $ns: String!, $name: String!) {
  columnLineage(dataset: $dataset, field: $field, direction: $direction, depth: $depth) {
    start { namespace name field }
    columns { column { namespace name field } distance use masked transformations { type subtype masking } source path { namespace name field } }
    edges { from { namespace name field } to { namespace name field } transformations { type subtype masking description } source }
    unverified { dataset { namespace name } job { namespace name } via { namespace name field } reason }
    truncated depth ${WATERMARK}
  }
  dataset(namespace: $ns, name: $name) { currentSchema { fields { name } } }
}`;

/** DIRECT carries the value, INDIRECT only influences it, masked DIRECT hides it. */
export function edgeStyle(transformations) {
  if (!transformations.length) return "direct";
  const direct = transformations.filter((t) => t.type === "DIRECT");
  if (!direct.length) return "indirect";
  if (direct.every((t) => t.masking)) return "masked";
  return "direct";
}

export async function renderColumns(main, context) {
  const params = { dir: "DOWNSTREAM", depth: "", ...context.params };
  const dataset = { namespace: params.ns || "", name: params.name || "" };
  document.title = `Column ${params.field} of ${dataset.name} · Tributary`;
  main.appendChild(loading("Following the column…"));
  const data = await gql(COLUMN_LINEAGE, {
    dataset, field: params.field || "", direction: params.dir === "UPSTREAM" ? "UPSTREAM" : params.dir === "BOTH" ? "BOTH" : "DOWNSTREAM",
    depth: params.depth ? Number(params.depth) : null, ns: dataset.namespace, name: dataset.name,
  }, { signal: context.signal });
  const answer = data.columnLineage;
  showWatermark(answer.watermark);
  const datasetId = (c) => `D\u0000${c.namespace}\u0000${c.name}`;
  const columnId = (c) => `C\u0000${c.namespace}\u0000${c.name}\u0000${c.field}`;
  const nodes = new Map();
  const addColumn = (column, cls, use) => {
    if (!nodes.has(datasetId(column))) {
      nodes.set(datasetId(column), { id: datasetId(column), label: `${column.name}  (${column.namespace})`, cls: "dataset-cluster", title: `${column.namespace}:${column.name}`, data: { namespace: column.namespace, name: column.name } });
    }
    if (!nodes.has(columnId(column))) {
      nodes.set(columnId(column), {
        id: columnId(column), parent: datasetId(column), label: column.field, cls: `column ${cls}`,
        title: `${column.namespace}:${column.name}.${column.field}${use ? ` (${use})` : ""}`,
        data: { namespace: column.namespace, name: column.name, field: column.field, use: use || "" },
        onClick: () => { location.hash = route("columns", { ns: column.namespace, name: column.name, field: column.field, dir: params.dir }); },
      });
    }
  };
  addColumn(answer.start, "start", "start");
  for (const impact of answer.columns) addColumn(impact.column, `${impact.use.toLowerCase()}${impact.masked ? " masked" : ""}`, impact.use + (impact.masked ? ", masked" : ""));
  const edges = answer.edges.map((edge) => {
    addColumn(edge.from, "", "");
    addColumn(edge.to, "", "");
    const style = edgeStyle(edge.transformations);
    const subtypes = [...new Set(edge.transformations.map((t) => t.subtype || t.type))].join(", ");
    return { from: columnId(edge.from), to: columnId(edge.to), cls: `column-edge ${style}`, label: subtypes, title: `${style.toUpperCase()} ${subtypes} (${edge.source})` };
  });
  for (const consumer of answer.unverified) {
    const id = `U\u0000${consumer.dataset.namespace}\u0000${consumer.dataset.name}`;
    nodes.set(id, { id, label: consumer.dataset.name, sublabel: "columns unknown", cls: "unverified", title: consumer.reason, data: { namespace: consumer.dataset.namespace, name: consumer.dataset.name } });
    edges.push({ from: columnId(consumer.via), to: id, cls: "unverified", title: `through ${consumer.job.name}: ${consumer.reason}` });
  }
  const canvas = h("div", { id: "column-graph", class: "graph-host" });
  const fields = (data.dataset && data.dataset.currentSchema ? data.dataset.currentSchema.fields : []).map((f) => f.name);
  const fieldSelect = h("select", { id: "column-field", "aria-label": "column", onchange: (event) => {
    location.hash = route("columns", { ...params, field: event.target.value });
  } }, (fields.includes(params.field) ? fields : [params.field, ...fields]).map((f) => h("option", { value: f, selected: f === params.field }, f)));
  const dirSelect = h("select", { id: "column-dir", "aria-label": "direction", onchange: (event) => {
    location.hash = route("columns", { ...params, dir: event.target.value });
  } }, ["DOWNSTREAM", "UPSTREAM", "BOTH"].map((d) => h("option", { value: d, selected: d === params.dir }, d.toLowerCase())));

  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Column ", h("span", { class: "mono", id: "column-start" }, params.field), " of ",
        h("a", { href: nodeRoute("DATASET", dataset.namespace, dataset.name) }, dataset.name), h("span", { class: "muted" }, ` ${dataset.namespace}`)),
      h("p", { class: "controls" }, h("label", null, "Column ", fieldSelect), h("label", null, "Direction ", dirSelect),
        h("a", { class: "button", href: route("lineage", { kind: "DATASET", ns: dataset.namespace, name: dataset.name, dir: params.dir }) }, "Dataset lineage")),
      h("p", { class: "muted", id: "column-status" },
        `${answer.columns.length} columns reached, ${answer.unverified.length} consumers with unknown columns`,
        answer.truncated ? h("strong", null, " — cut by the node limit") : ""),
      h("div", { class: "legend" },
        h("span", { class: "key edge-direct" }, "DIRECT: carries the value"),
        h("span", { class: "key edge-indirect" }, "INDIRECT: influences it (join, filter…)"),
        h("span", { class: "key edge-masked" }, "masked"),
        h("span", { class: "key edge-unverified" }, "columns unknown"))),
    canvas,
    section("Columns reached", answer.columns.length
      ? table(["Column", "Use", "Masked", "Distance", "Via", "Source"], answer.columns.map((c) => h("tr", { class: "column-impact", dataset: { use: c.use, masked: String(c.masked) } },
        h("td", null, `${c.column.namespace}:${c.column.name}.${c.column.field}`), h("td", null, badge(c.use)), h("td", null, c.masked ? "masked" : ""),
        h("td", null, String(c.distance)), h("td", null, [...new Set(c.transformations.map((t) => t.subtype || t.type))].join(", ")), h("td", null, c.source))), { id: "column-table" })
      : h("p", { class: "muted" }, "No column lineage from this column.")),
    answer.unverified.length ? section("Consumers whose columns are unknown", h("ul", null, answer.unverified.map((u) => h("li", null,
      `${u.dataset.namespace}:${u.dataset.name} through ${u.job.name}: ${u.reason}`)))) : null);
  renderGraph(canvas, { nodes: [...nodes.values()], edges, ariaLabel: "column lineage" }, { ranksep: 90 });
}
