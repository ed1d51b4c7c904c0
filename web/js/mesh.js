// The mesh: domains, products with their ports, contracts, SLA and freshness, the derived
// product lineage, and open policy violations. Also one product's and one domain's page.

import { gql, showWatermark, WATERMARK, NODE } from "./api.js";
import { h, fill, route, nodeLink, badge, table, section, fmtTime, fmtDuration, ago, json, loading } from "./dom.js";
import { renderGraph } from "./graph.js";

const PRODUCT_FIELDS = `id name domain description classification lifecycle tags version freshnessSlaSeconds
  owners { name role source }
  outputPorts { name dataset { ${NODE} } description classification contract { version status } owners { name role source } }
  inputPorts { ${NODE} } internalDatasets { ${NODE} }
  upstreamProducts downstreamProducts`;

const VIOLATION_FIELDS = `policy kind blocking subject product port dataset { ${NODE} } column job { ${NODE} } reason path since`;
const FRESHNESS_FIELDS = `product port dataset { ${NODE} } slaSeconds lastSuccess status`;

const MESH = `query Mesh {
  ${WATERMARK}
  domains { id name description owners { name role source } namespaces products }
  products { ${PRODUCT_FIELDS} }
  productLineage { from to via { from { ${NODE} } to { ${NODE} } } }
  domainLineage { from to }
  violations { ${VIOLATION_FIELDS} }
  freshness { ${FRESHNESS_FIELDS} }
}`;

const PRODUCT = `query Product($id: String!) {
  ${WATERMARK}
  product(id: $id) { ${PRODUCT_FIELDS} descriptor versions { version appliedAt hash } }
  violations(product: $id) { ${VIOLATION_FIELDS} }
  freshness { ${FRESHNESS_FIELDS} }
  productLineage { from to via { from { ${NODE} } to { ${NODE} } } }
}`;

function ownerNames(owners) {
  return owners.length ? owners.map((o) => h("span", { class: "owner", title: `${o.role ? o.role + ", " : ""}from ${o.source}` }, o.name)) : "—";
}

function freshnessCell(freshness, product, port) {
  const entry = freshness.find((f) => f.product === product && f.port === port);
  if (!entry) return "—";
  return h("span", { title: entry.lastSuccess ? `last success ${fmtTime(entry.lastSuccess)} (${ago(entry.lastSuccess)})` : "never written" },
    badge(entry.status), entry.slaSeconds ? ` SLA ${fmtDuration(entry.slaSeconds * 1000)}` : "");
}

function productsTable(products, freshness) {
  const rows = products.flatMap((product) => {
    const ports = product.outputPorts.length ? product.outputPorts : [null];
    return ports.map((port, index) => h("tr", { class: "product-row", dataset: { product: product.id, port: port ? port.name : "" } },
      index === 0 ? h("td", { rowspan: ports.length }, h("a", { href: route("product", { id: product.id }) }, product.id), h("div", { class: "muted" }, product.name)) : null,
      index === 0 ? h("td", { rowspan: ports.length }, h("a", { href: route("domain", { id: product.domain }) }, product.domain)) : null,
      index === 0 ? h("td", { rowspan: ports.length }, badge(product.classification), " ", product.lifecycle) : null,
      h("td", null, port ? [port.name, " ", h("span", { class: "muted" }, "→ "), nodeLink(port.dataset)] : h("span", { class: "muted" }, "no output port")),
      h("td", null, port && port.contract ? [port.contract.version, " ", badge(port.contract.status)] : "—"),
      h("td", null, port ? freshnessCell(freshness, product.id, port.name) : product.freshnessSlaSeconds ? `SLA ${fmtDuration(product.freshnessSlaSeconds * 1000)}` : "—"),
      index === 0 ? h("td", { rowspan: ports.length }, ownerNames(product.owners)) : null));
  });
  return table(["Product", "Domain", "Class", "Output port", "Contract", "Freshness", "Owners"], rows, { id: "mesh-products" });
}

function violationsTable(violations) {
  if (!violations.length) return h("p", { class: "muted", id: "mesh-violations-none" }, "No open violations.");
  return table(["Policy", "Kind", "Subject", "Product", "Reason", "Path", "Since"], violations.map((v) => h("tr", {
    class: `violation ${v.blocking ? "blocking" : ""}`, dataset: { policy: v.policy, kind: v.kind },
  },
  h("td", null, v.policy, v.blocking ? [" ", badge("blocking")] : null), h("td", null, v.kind),
  h("td", null, v.dataset ? nodeLink(v.dataset, `${v.dataset.name}${v.column ? "." + v.column : ""}`) : v.job ? nodeLink(v.job) : v.subject),
  h("td", null, v.product ? h("a", { href: route("product", { id: v.product }) }, v.product) : "—"),
  h("td", null, v.reason), h("td", { class: "path" }, v.path.join(" → ")), h("td", null, v.since ? fmtTime(v.since) : "now"))),
  { id: "mesh-violations" });
}

/** Products as nodes (coloured by domain), derived lineage as edges. */
function productGraph(host, products, lineage, highlight) {
  const domains = [...new Set(products.map((p) => p.domain))].sort();
  renderGraph(host, {
    ariaLabel: "product lineage",
    nodes: products.map((p) => ({
      id: p.id, label: p.id, sublabel: `domain ${p.domain}`, cls: `product domain-${domains.indexOf(p.domain) % 6}${p.id === highlight ? " start" : ""}`,
      title: `${p.name}: ${p.outputPorts.length} output ports`, data: { product: p.id },
      onClick: () => { location.hash = route("product", { id: p.id }); },
    })),
    edges: lineage.filter((e) => products.some((p) => p.id === e.from) && products.some((p) => p.id === e.to)).map((e) => ({
      from: e.from, to: e.to, title: e.via.map((v) => `${v.from.name} → ${v.to.name}`).join("\n"),
    })),
  }, { ranksep: 90 });
}

export async function render(main, context) {
  document.title = "Mesh · Tributary";
  main.appendChild(loading());
  const data = await gql(MESH, {}, { signal: context.signal });
  showWatermark(data.watermark);
  const graphHost = h("div", { id: "mesh-graph", class: "graph-host small" });
  fill(main,
    h("section", { class: "card" }, h("h1", null, "Data mesh"),
      h("p", { id: "mesh-summary" }, `${data.domains.length} domains, ${data.products.length} products, ${data.violations.length} open violations, ${data.productLineage.length} product lineage edges`)),
    section("Domains", data.domains.length ? table(["Domain", "Owners", "Namespaces", "Products", "Feeds"], data.domains.map((d) => h("tr", { class: "domain-row", dataset: { domain: d.id } },
      h("td", null, h("a", { href: route("domain", { id: d.id }) }, d.name || d.id), h("div", { class: "muted" }, d.id)),
      h("td", null, ownerNames(d.owners)), h("td", null, d.namespaces.join(", ") || "—"),
      h("td", null, d.products.map((p) => h("a", { class: "chip", href: route("product", { id: p }) }, p))),
      h("td", null, data.domainLineage.filter((e) => e.from === d.id).map((e) => e.to).join(", ") || "—"))), { id: "mesh-domains" })
      : h("p", { class: "muted" }, "No domain applied yet (tributary domain apply -f …).")),
    section("Products", data.products.length ? productsTable(data.products, data.freshness) : h("p", { class: "muted" }, "No product applied yet.")),
    data.products.length ? section("Product lineage (derived from dataset lineage)", graphHost) : null,
    section(`Violations (${data.violations.length})`, violationsTable(data.violations)));
  if (data.products.length) productGraph(graphHost, data.products, data.productLineage, null);
}

export async function renderProduct(main, context) {
  const id = context.params.id || "";
  document.title = `${id} · Tributary`;
  main.appendChild(loading());
  const data = await gql(PRODUCT, { id }, { signal: context.signal });
  showWatermark(data.watermark);
  const product = data.product;
  if (!product) {
    fill(main, section("Product not found", h("p", null, `No product ${id} has been applied.`)));
    return;
  }
  const graphHost = h("div", { id: "product-graph", class: "graph-host small" });
  const neighbours = new Set([product.id, ...product.upstreamProducts, ...product.downstreamProducts]);
  const stub = (pid) => ({ id: pid, name: pid, domain: pid === product.id ? product.domain : "", outputPorts: [] });
  fill(main,
    h("section", { class: "card", id: "product-header", dataset: { product: product.id } },
      h("p", { class: "muted" }, badge("product"), " in domain ", h("a", { href: route("domain", { id: product.domain }) }, product.domain)),
      h("h1", null, product.name, h("span", { class: "muted" }, ` ${product.id}`)),
      product.description ? h("p", null, product.description) : null,
      h("dl", { class: "facts" },
        h("dt", null, "Classification"), h("dd", null, badge(product.classification)),
        h("dt", null, "Lifecycle"), h("dd", null, product.lifecycle),
        h("dt", null, "Version"), h("dd", null, String(product.version)),
        h("dt", null, "Freshness SLA"), h("dd", null, product.freshnessSlaSeconds ? fmtDuration(product.freshnessSlaSeconds * 1000) : "none"),
        h("dt", null, "Tags"), h("dd", null, product.tags.join(", ") || "—"),
        h("dt", null, "Owners"), h("dd", null, ownerNames(product.owners)))),
    section("Output ports", productsTable([product], data.freshness)),
    h("div", { class: "columns-2" },
      section("Input ports", product.inputPorts.length ? h("ul", { class: "nodes" }, product.inputPorts.map((d) => h("li", null, nodeLink(d)))) : h("p", { class: "muted" }, "None declared.")),
      section("Internal datasets", product.internalDatasets.length ? h("ul", { class: "nodes" }, product.internalDatasets.map((d) => h("li", null, nodeLink(d)))) : h("p", { class: "muted" }, "None declared."))),
    section("Product lineage", graphHost),
    section(`Violations (${data.violations.length})`, violationsTable(data.violations)),
    section("Versions", table(["Version", "Applied", "Hash"], product.versions.map((v) => h("tr", null, h("td", null, String(v.version)), h("td", null, fmtTime(v.appliedAt)), h("td", { class: "mono" }, v.hash.slice(0, 16))))),
      h("details", null, h("summary", null, "Descriptor as applied"), json(product.descriptor))));
  productGraph(graphHost, [...neighbours].map(stub), data.productLineage.filter((e) => neighbours.has(e.from) && neighbours.has(e.to)), product.id);
}

export async function renderDomain(main, context) {
  const id = context.params.id || "";
  document.title = `Domain ${id} · Tributary`;
  main.appendChild(loading());
  const data = await gql(MESH, {}, { signal: context.signal });
  showWatermark(data.watermark);
  const domain = data.domains.find((d) => d.id === id);
  if (!domain) {
    fill(main, section("Domain not found", h("p", null, `No domain ${id} has been applied.`)));
    return;
  }
  const products = data.products.filter((p) => p.domain === id);
  const productIds = new Set(products.map((p) => p.id));
  const violations = data.violations.filter((v) => v.product && productIds.has(v.product));
  fill(main,
    h("section", { class: "card", id: "domain-header", dataset: { domain: id } },
      h("p", { class: "muted" }, badge("domain")),
      h("h1", null, domain.name || id, h("span", { class: "muted" }, ` ${id}`)),
      domain.description ? h("p", null, domain.description) : null,
      h("dl", { class: "facts" },
        h("dt", null, "Owners"), h("dd", null, ownerNames(domain.owners)),
        h("dt", null, "Namespaces"), h("dd", null, domain.namespaces.join(", ") || "—"),
        h("dt", null, "Reads from"), h("dd", null, data.domainLineage.filter((e) => e.to === id).map((e) => e.from).join(", ") || "—"),
        h("dt", null, "Feeds"), h("dd", null, data.domainLineage.filter((e) => e.from === id).map((e) => e.to).join(", ") || "—"))),
    section("Products", products.length ? productsTable(products, data.freshness) : h("p", { class: "muted" }, "No products.")),
    section(`Violations (${violations.length})`, violationsTable(violations)));
}
