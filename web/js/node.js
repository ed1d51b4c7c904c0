// A dataset, a job, a run: facets, schema and its history with a diff between any two
// versions, runs with state and duration, owners with provenance, product, domain, freshness.

import { gql, showWatermark, WATERMARK, NODE } from "./api.js";
import {
  h, fill, route, nodeLink, badge, json, table, section, fmtTime, fmtDuration, runDuration, ago, errorBox, loading,
} from "./dom.js";

const FIELDS = `fragment F on SchemaField { name type description fields { name type description fields { name type description fields { name type } } } }`;

const MESH = `products { id name domain freshnessSlaSeconds outputPorts { name dataset { namespace name } } internalDatasets { namespace name } inputPorts { namespace name } }
  domains { id name namespaces }`;

const DATASET = `query Dataset($ns: String!, $name: String!, $node: NodeInput!) {
  dataset(namespace: $ns, name: $name) {
    namespace name facets createdAt updatedAt
    currentSchema { version firstSeen lastSeen fields { ...F } }
    schemaVersions { version firstSeen lastSeen fields { ...F } }
    producers { ${NODE} } consumers { ${NODE} }
    recentRuns { runId job { ${NODE} } state startedAt endedAt }
    aliases { ${NODE} }
    ${WATERMARK}
  }
  owners(node: $node) { name role source }
  freshness { product port dataset { namespace name } slaSeconds lastSuccess status }
  ${MESH}
}
${FIELDS}`;

const JOB = `query Job($ns: String!, $name: String!, $node: NodeInput!) {
  job(namespace: $ns, name: $name) {
    namespace name facets createdAt updatedAt sqlError
    inputs { ${NODE} } outputs { ${NODE} }
    runs(first: 25) { runId state startedAt endedAt }
    ${WATERMARK}
  }
  owners(node: $node) { name role source }
  ${MESH}
}`;

const RUN = `query Run($id: String!) {
  run(runId: $id) {
    runId job { ${NODE} } state startedAt endedAt facets parentRunId parentJob { ${NODE} } eventSequences
    inputDetails { dataset { ${NODE} } facets } outputDetails { dataset { ${NODE} } facets }
    ${WATERMARK}
  }
}`;

const DIFF = `query Diff($dataset: DatasetInput!, $from: String!, $to: String!) {
  schemaDiff(dataset: $dataset, from: $from, to: $to) {
    verdict changes { path kind verdict summary before after }
    ${WATERMARK}
  }
}`;

const same = (a, b) => a.namespace === b.namespace && a.name === b.name;

/** The product a dataset belongs to (output port or internal dataset) and its domain. */
export function datasetPlacement(dataset, products, domains) {
  const product = products.find((p) => p.outputPorts.some((port) => same(port.dataset, dataset))
    || p.internalDatasets.some((d) => same(d, dataset)));
  const port = product && product.outputPorts.find((candidate) => same(candidate.dataset, dataset));
  const domainId = product ? product.domain : (domains.find((d) => d.namespaces.includes(dataset.namespace)) || {}).id;
  return { product, port, domain: domains.find((d) => d.id === domainId) || (domainId ? { id: domainId } : null) };
}

/** A job's domain is its namespace's, else that of a product whose dataset it writes. */
function jobPlacement(job, products, domains) {
  const product = products.find((p) => job.outputs.some((output) => p.outputPorts.some((port) => same(port.dataset, output))
    || p.internalDatasets.some((d) => same(d, output))));
  const byNamespace = domains.find((d) => d.namespaces.includes(job.namespace));
  const domainId = byNamespace ? byNamespace.id : product && product.domain;
  return { product, domain: domains.find((d) => d.id === domainId) || null };
}

function placement({ product, domain }) {
  return h("dl", { class: "facts", id: "placement" },
    h("dt", null, "Product"), h("dd", { dataset: { field: "product" } },
      product ? h("a", { href: route("product", { id: product.id }) }, product.id) : "none"),
    h("dt", null, "Domain"), h("dd", { dataset: { field: "domain" } },
      domain ? h("a", { href: route("domain", { id: domain.id }) }, domain.name || domain.id) : "none"));
}

function ownersList(owners) {
  if (!owners.length) return h("p", { class: "muted" }, "No owner known (no ownership facet, product or domain).");
  return table(["Owner", "Role", "Where it came from"],
    owners.map((o) => h("tr", { class: "owner" }, h("td", null, o.name), h("td", null, o.role || "—"), h("td", null, o.source))),
    { id: "owners" });
}

function nodeList(nodes, empty) {
  if (!nodes.length) return h("p", { class: "muted" }, empty);
  return h("ul", { class: "nodes" }, nodes.map((node) => h("li", null, nodeLink(node), h("span", { class: "muted" }, ` ${node.namespace}`))));
}

function runsTable(runs, withJob) {
  if (!runs.length) return h("p", { class: "muted" }, "No runs seen.");
  return table(["Run", ...(withJob ? ["Job"] : []), "State", "Started", "Ended", "Duration"],
    runs.map((run) => h("tr", { class: "run", dataset: { state: run.state } },
      h("td", null, h("a", { href: route("run", { id: run.runId }), class: "mono" }, run.runId.slice(0, 8) + "…")),
      withJob ? h("td", null, nodeLink(run.job)) : null,
      h("td", null, badge(run.state)),
      h("td", null, fmtTime(run.startedAt)),
      h("td", null, fmtTime(run.endedAt)),
      h("td", { class: "duration" }, fmtDuration(runDuration(run))))),
    { id: "runs" });
}

function facetsSection(facets) {
  const names = Object.keys(facets || {}).sort();
  if (!names.length) return section("Facets", h("p", { class: "muted" }, "No facets."));
  return section(`Facets (${names.length})`, h("div", { id: "facets" },
    names.map((name) => h("details", { class: "facet", dataset: { facet: name } }, h("summary", null, name), json(facets[name])))));
}

function fieldRows(fields, depth = 0, prefix = "") {
  return fields.flatMap((field) => [
    h("tr", { class: "field", dataset: { path: prefix + field.name } },
      h("td", { style: `padding-left: ${0.5 + depth * 1.2}em` }, field.name),
      h("td", { class: "mono" }, field.type || "—"),
      h("td", null, field.description || "")),
    ...fieldRows(field.fields || [], depth + 1, `${prefix}${field.name}.`),
  ]);
}

function schemaTable(fields, id) {
  return table(["Column", "Type", "Description"], fieldRows(fields), { id, class: "schema" });
}

/** Field paths and types of a version, flattened (`address.zip`). */
function flatFields(fields, prefix = "", out = new Map()) {
  for (const field of fields) {
    out.set(prefix + field.name, field.type || "");
    flatFields(field.fields || [], `${prefix}${field.name}.`, out);
  }
  return out;
}

function shortVersion(version) {
  return version.slice(0, 12);
}

function schemaHistory(dataset, params, context) {
  const versions = dataset.schemaVersions;
  const container = h("div", { id: "schema-history" });
  if (versions.length === 0) return section("Schema", h("p", { class: "muted" }, "No schema facet seen."));
  const current = dataset.currentSchema;
  const options = (selected) => versions.map((v, index) => h("option", { value: v.version, selected: v.version === selected },
    `v${index + 1} · ${shortVersion(v.version)} · first seen ${fmtTime(v.firstSeen)}`));
  const defaultTo = params.to || (current ? current.version : versions[versions.length - 1].version);
  const toIndex = versions.findIndex((v) => v.version === defaultTo);
  const defaultFrom = params.from || versions[Math.max(0, toIndex - 1)].version;
  const fromSelect = h("select", { id: "diff-from", "aria-label": "from version" }, options(defaultFrom));
  const toSelect = h("select", { id: "diff-to", "aria-label": "to version" }, options(defaultTo));
  const result = h("div", { id: "diff-result" });

  async function compare() {
    const from = fromSelect.value;
    const to = toSelect.value;
    context.replace("dataset", { ns: dataset.namespace, name: dataset.name, from, to });
    const before = flatFields(versions.find((v) => v.version === from).fields);
    const after = flatFields(versions.find((v) => v.version === to).fields);
    const paths = [...new Set([...before.keys(), ...after.keys()])];
    const rows = paths.map((path) => {
      const state = !before.has(path) ? "added" : !after.has(path) ? "removed" : before.get(path) !== after.get(path) ? "changed" : "same";
      return h("tr", { class: `diff-${state}`, dataset: { path, state } },
        h("td", null, path), h("td", { class: "mono" }, before.has(path) ? before.get(path) || "—" : ""),
        h("td", { class: "mono" }, after.has(path) ? after.get(path) || "—" : ""), h("td", null, state));
    });
    const sideBySide = table(["Column", `v${versions.findIndex((v) => v.version === from) + 1}`, `v${versions.findIndex((v) => v.version === to) + 1}`, ""],
      rows, { id: "diff-table", class: "schema" });
    fill(result, loading("Classifying the changes…"), sideBySide);
    if (from === to) {
      fill(result, h("p", { class: "muted" }, "The same version on both sides."), sideBySide);
      return;
    }
    try {
      const data = await gql(DIFF, { dataset: { namespace: dataset.namespace, name: dataset.name }, from, to }, { signal: context.signal });
      const diff = data.schemaDiff;
      fill(result,
        h("p", null, "Verdict: ", badge(diff.verdict), ` (${diff.changes.length} change${diff.changes.length === 1 ? "" : "s"})`),
        diff.changes.length ? table(["Path", "Change", "Before", "After", "Verdict", "Summary"],
          diff.changes.map((c) => h("tr", { class: "change" }, h("td", null, c.path || "(dataset)"), h("td", null, c.kind),
            h("td", { class: "mono" }, c.before || ""), h("td", { class: "mono" }, c.after || ""), h("td", null, badge(c.verdict)), h("td", null, c.summary))),
          { id: "diff-changes" }) : null,
        sideBySide);
    } catch (error) {
      if (error.name !== "AbortError") fill(result, errorBox(error), sideBySide);
    }
  }

  fill(container,
    table(["#", "Version", "First seen", "Last seen", ""], versions.map((v, index) => h("tr", { class: "schema-version", dataset: { version: v.version } },
      h("td", null, `v${index + 1}`), h("td", { class: "mono" }, shortVersion(v.version)), h("td", null, fmtTime(v.firstSeen)),
      h("td", null, fmtTime(v.lastSeen)), h("td", null, current && current.version === v.version ? badge("current") : ""))), { id: "versions" }),
    versions.length > 1 ? h("div", { class: "diff-form" }, "Compare ", fromSelect, " with ", toSelect, " ",
      h("button", { type: "button", id: "diff-button", onclick: compare }, "Diff")) : h("p", { class: "muted" }, "Only one version so far."),
    result);
  if (versions.length > 1 && (params.from || params.to)) compare();
  return section(`Schema history (${versions.length} version${versions.length === 1 ? "" : "s"})`, container);
}

function freshnessOf(dataset, data, placementInfo) {
  const portFreshness = data.freshness.find((f) => same(f.dataset, dataset));
  const producerNames = new Set(dataset.producers.map((p) => `${p.namespace}\u0000${p.name}`));
  const lastWrite = dataset.recentRuns
    .filter((run) => run.state === "COMPLETE" && producerNames.has(`${run.job.namespace}\u0000${run.job.name}`))
    .map((run) => run.endedAt || run.startedAt).filter(Boolean).sort().pop();
  return h("dl", { class: "facts", id: "freshness" },
    portFreshness ? [
      h("dt", null, "Port freshness"), h("dd", null, badge(portFreshness.status), ` ${portFreshness.product} / ${portFreshness.port}`),
      h("dt", null, "SLA"), h("dd", null, portFreshness.slaSeconds ? fmtDuration(portFreshness.slaSeconds * 1000) : "none"),
      h("dt", null, "Last success"), h("dd", null, `${fmtTime(portFreshness.lastSuccess)} (${ago(portFreshness.lastSuccess)})`),
    ] : [
      h("dt", null, "Freshness"), h("dd", null, placementInfo.port ? "port without SLA" : "not an output port (no SLA)"),
    ],
    h("dt", null, "Last completed write"), h("dd", { dataset: { field: "last-write" } }, lastWrite ? `${fmtTime(lastWrite)} (${ago(lastWrite)})` : "none seen"),
    h("dt", null, "Updated"), h("dd", null, fmtTime(dataset.updatedAt)));
}

function actions(kind, namespace, name) {
  const start = { kind, ns: namespace, name };
  return h("p", { class: "actions" },
    h("a", { class: "button", href: route("lineage", { ...start, dir: "BOTH", depth: 2 }) }, "Lineage graph"),
    h("a", { class: "button", href: route("impact", start) }, "Impact downstream"),
    kind === "DATASET" ? h("a", { class: "button", href: route("check", { ns: namespace, name }) }, "Check a schema change") : null);
}

export async function renderDataset(main, context) {
  const { ns, name } = context.params;
  document.title = `${name} · Tributary`;
  main.appendChild(loading());
  const data = await gql(DATASET, { ns, name, node: { kind: "DATASET", namespace: ns, name } }, { signal: context.signal });
  const dataset = data.dataset;
  if (!dataset) {
    fill(main, section("Dataset not found", h("p", null, `No dataset ${ns}:${name} has been seen.`)));
    return;
  }
  showWatermark(dataset.watermark);
  const where = datasetPlacement(dataset, data.products, data.domains);
  const columnLinks = dataset.currentSchema
    ? h("p", { class: "muted" }, "Follow a column: ", dataset.currentSchema.fields.map((field) =>
      h("a", { class: "chip", href: route("columns", { ns: dataset.namespace, name: dataset.name, field: field.name }) }, field.name)))
    : null;
  fill(main,
    h("section", { class: "card", id: "node-header", dataset: { kind: "DATASET", namespace: dataset.namespace, name: dataset.name } },
      h("p", { class: "muted" }, badge("dataset"), " ", dataset.namespace),
      h("h1", { id: "node-name" }, dataset.name),
      dataset.aliases.length ? h("p", { class: "muted" }, "Also known as ", dataset.aliases.map((a) => `${a.namespace}:${a.name}`).join(", ")) : null,
      actions("DATASET", dataset.namespace, dataset.name),
      h("div", { class: "columns-2" }, placement(where), freshnessOf(dataset, data, where))),
    section("Owners", ownersList(data.owners)),
    section("Current schema", dataset.currentSchema
      ? [h("p", { class: "muted" }, `Version ${shortVersion(dataset.currentSchema.version)}, first seen ${fmtTime(dataset.currentSchema.firstSeen)}`),
        schemaTable(dataset.currentSchema.fields, "current-schema"), columnLinks]
      : h("p", { class: "muted" }, "No schema facet seen.")),
    schemaHistory(dataset, context.params, context),
    h("div", { class: "columns-2" },
      section("Written by", nodeList(dataset.producers, "No job writes it now.")),
      section("Read by", nodeList(dataset.consumers, "No job reads it now."))),
    section("Recent runs", runsTable(dataset.recentRuns, true)),
    facetsSection(dataset.facets));
}

export async function renderJob(main, context) {
  const { ns, name } = context.params;
  document.title = `${name} · Tributary`;
  main.appendChild(loading());
  const data = await gql(JOB, { ns, name, node: { kind: "JOB", namespace: ns, name } }, { signal: context.signal });
  const job = data.job;
  if (!job) {
    fill(main, section("Job not found", h("p", null, `No job ${ns}:${name} has been seen.`)));
    return;
  }
  showWatermark(job.watermark);
  const where = jobPlacement(job, data.products, data.domains);
  const lastRun = job.runs[0];
  fill(main,
    h("section", { class: "card", id: "node-header", dataset: { kind: "JOB", namespace: job.namespace, name: job.name } },
      h("p", { class: "muted" }, badge("job"), " ", job.namespace),
      h("h1", { id: "node-name" }, job.name),
      actions("JOB", job.namespace, job.name),
      h("div", { class: "columns-2" }, placement(where),
        h("dl", { class: "facts", id: "freshness" },
          h("dt", null, "Last run"), h("dd", null, lastRun ? [badge(lastRun.state), ` ${fmtTime(lastRun.endedAt || lastRun.startedAt)} (${ago(lastRun.endedAt || lastRun.startedAt)})`] : "none"),
          h("dt", null, "Updated"), h("dd", null, fmtTime(job.updatedAt)))),
      job.sqlError ? h("p", { class: "error" }, `Its SQL could not be read for column lineage: ${job.sqlError}`) : null),
    section("Owners", ownersList(data.owners)),
    h("div", { class: "columns-2" },
      section("Reads", nodeList(job.inputs, "No current inputs.")),
      section("Writes", nodeList(job.outputs, "No current outputs."))),
    section("Recent runs", runsTable(job.runs, false)),
    facetsSection(job.facets));
}

export async function renderRun(main, context) {
  document.title = "Run · Tributary";
  main.appendChild(loading());
  const data = await gql(RUN, { id: context.params.id }, { signal: context.signal });
  const run = data.run;
  if (!run) {
    fill(main, section("Run not found", h("p", null, `No run ${context.params.id} has been seen.`)));
    return;
  }
  showWatermark(run.watermark);
  const details = (list) => list.length
    ? h("ul", { class: "nodes" }, list.map((d) => h("li", null, nodeLink(d.dataset), Object.keys(d.facets || {}).length ? json(d.facets) : null)))
    : h("p", { class: "muted" }, "None.");
  fill(main,
    h("section", { class: "card", id: "node-header" },
      h("p", { class: "muted" }, badge("run"), " of ", nodeLink(run.job)),
      h("h1", { class: "mono" }, run.runId),
      h("dl", { class: "facts" },
        h("dt", null, "State"), h("dd", null, badge(run.state)),
        h("dt", null, "Started"), h("dd", null, fmtTime(run.startedAt)),
        h("dt", null, "Ended"), h("dd", null, fmtTime(run.endedAt)),
        h("dt", null, "Duration"), h("dd", null, fmtDuration(runDuration(run))),
        h("dt", null, "Parent"), h("dd", null, run.parentRunId ? [h("a", { href: route("run", { id: run.parentRunId }) }, run.parentRunId), run.parentJob ? [" of ", nodeLink(run.parentJob)] : null] : "none"),
        h("dt", null, "Events"), h("dd", null, run.eventSequences.map((n) => `#${n}`).join(", ")))),
    h("div", { class: "columns-2" }, section("Read", details(run.inputDetails)), section("Wrote", details(run.outputDetails))),
    facetsSection(run.facets));
}
