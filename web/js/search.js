// Search as you type: datasets, jobs and products through `search` (text, tag, owner,
// domain), domains matched here from the `domains` list (the mesh has few of them).

import { gql, showWatermark, WATERMARK, NODE } from "./api.js";
import { h, fill, route, nodeRoute, badge, debounce, errorBox, fmtNumber } from "./dom.js";

const QUERY = `query Search($text: String, $tag: String, $owner: String, $domain: String, $kinds: [SearchKind!], $after: String) {
  ${WATERMARK}
  search(text: $text, tag: $tag, owner: $owner, domain: $domain, kinds: $kinds, first: 50, after: $after) {
    results { kind product node { ${NODE} } }
    nextCursor
  }
  domains { id name namespaces products }
}`;

/** Before anything is typed: the first datasets, jobs and products by name. */
const BROWSE = `query Browse {
  ${WATERMARK}
  datasets(first: 20) { nodes { ${NODE} } nextCursor }
  jobs(first: 20) { nodes { ${NODE} } nextCursor }
  products { id }
  domains { id name namespaces products }
}`;

const KINDS = ["DATASET", "JOB", "PRODUCT", "DOMAIN"];

function resultRow(result) {
  if (result.kind === "PRODUCT") {
    return h("li", { class: "result", dataset: { kind: "PRODUCT", id: result.product } },
      badge("product"), " ", h("a", { href: route("product", { id: result.product }) }, result.product));
  }
  const node = result.node;
  const kind = node.kind;
  const start = { kind, ns: node.namespace, name: node.name };
  return h("li", { class: "result", dataset: { kind, namespace: node.namespace, name: node.name } },
    badge(kind === "JOB" ? "job" : "dataset"), " ",
    h("a", { href: nodeRoute(kind, node.namespace, node.name), class: "result-name" }, node.name),
    h("span", { class: "muted" }, ` ${node.namespace}`),
    h("span", { class: "quick" },
      h("a", { href: route("lineage", start) }, "lineage"),
      h("a", { href: route("impact", start) }, "impact"),
      kind === "DATASET" ? h("a", { href: route("check", { ns: node.namespace, name: node.name }) }, "check a change") : null));
}

function domainRow(domain) {
  return h("li", { class: "result", dataset: { kind: "DOMAIN", id: domain.id } },
    badge("domain"), " ", h("a", { href: route("domain", { id: domain.id }) }, domain.name || domain.id),
    h("span", { class: "muted" }, ` ${domain.id} · ${domain.products.length} products · namespaces ${domain.namespaces.join(", ") || "—"}`));
}

function matchesDomain(domain, filters) {
  if (filters.tag || filters.owner) return false;
  if (filters.domain && domain.id !== filters.domain) return false;
  const text = (filters.q || "").toLowerCase();
  if (!text) return true;
  return [domain.id, domain.name || "", ...domain.namespaces].some((value) => value.toLowerCase().includes(text));
}

export function render(main, context) {
  const params = { q: "", tag: "", owner: "", domain: "", kinds: "", ...context.params };
  const selected = new Set((params.kinds || "").split(",").filter((kind) => KINDS.includes(kind)));
  const input = (name, placeholder, extra = {}) =>
    h("input", { type: "search", name, placeholder, value: params[name], "aria-label": placeholder, ...extra });
  const text = input("q", "Text in a name", { id: "search-text", autofocus: true });
  const tag = input("tag", "Tag");
  const owner = input("owner", "Owner");
  const domain = input("domain", "Domain id");
  const kindBoxes = KINDS.map((kind) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: kind, checked: selected.has(kind) }), ` ${kind.toLowerCase()}s`));
  const summary = h("p", { id: "search-summary", class: "muted", "aria-live": "polite" });
  const results = h("ul", { id: "search-results", class: "results" });
  const more = h("div");
  let inflight = null;

  async function run(after = null) {
    const filters = { q: text.value.trim(), tag: tag.value.trim(), owner: owner.value.trim(), domain: domain.value.trim() };
    const kinds = kindBoxes.map((label) => label.firstChild).filter((box) => box.checked).map((box) => box.value);
    context.replace("search", { ...filters, kinds: kinds.join(",") });
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const signal = inflight.signal;
    const searchKinds = kinds.filter((kind) => kind !== "DOMAIN");
    const wantDomains = kinds.length === 0 || kinds.includes("DOMAIN");
    const wantNodes = kinds.length === 0 || searchKinds.length > 0;
    if (!after) {
      summary.textContent = "Searching…";
      summary.dataset.state = "loading";
    }
    try {
      if (!filters.q && !filters.tag && !filters.owner && !filters.domain) {
        const data = await gql(BROWSE, {}, { signal });
        showWatermark(data.watermark);
        const want = (kind) => kinds.length === 0 || kinds.includes(kind);
        fill(results,
          want("DOMAIN") ? data.domains.map(domainRow) : [],
          want("PRODUCT") ? data.products.map((p) => resultRow({ kind: "PRODUCT", product: p.id })) : [],
          want("DATASET") ? data.datasets.nodes.map((node) => resultRow({ kind: "DATASET", node })) : [],
          want("JOB") ? data.jobs.nodes.map((node) => resultRow({ kind: "JOB", node })) : []);
        summary.textContent = results.children.length
          ? "Type to search; the first datasets, jobs and products by name:"
          : "Nothing ingested yet: post OpenLineage events to /api/v1/lineage.";
        summary.dataset.state = "done";
        fill(more);
        return;
      }
      const data = await gql(QUERY, {
        text: filters.q || null, tag: filters.tag || null, owner: filters.owner || null, domain: filters.domain || null,
        kinds: searchKinds.length ? searchKinds : null, after,
      }, { signal });
      showWatermark(data.watermark);
      const rows = [];
      if (!after && wantDomains) rows.push(...data.domains.filter((d) => matchesDomain(d, filters)).map(domainRow));
      if (wantNodes) rows.push(...data.search.results.map(resultRow));
      if (!after) fill(results);
      rows.forEach((row) => results.appendChild(row));
      const count = results.children.length;
      summary.textContent = count === 0
        ? "Nothing matches."
        : `${fmtNumber(count)} result${count === 1 ? "" : "s"}${data.search.nextCursor && wantNodes ? " (more below)" : ""}`;
      summary.dataset.state = "done";
      fill(more, data.search.nextCursor && wantNodes
        ? h("button", { type: "button", id: "search-more", onclick: () => run(data.search.nextCursor) }, "More results")
        : null);
    } catch (error) {
      if (error.name === "AbortError") return;
      summary.dataset.state = "error";
      fill(summary, errorBox(error));
    }
  }

  context.signal.addEventListener("abort", () => inflight && inflight.abort());
  const rerun = debounce(() => run(), 120);
  [text, tag, owner, domain].forEach((element) => element.addEventListener("input", rerun));
  kindBoxes.forEach((label) => label.firstChild.addEventListener("change", () => run()));

  document.title = "Search · Tributary";
  fill(main,
    h("section", { class: "card" },
      h("h1", null, "Find a dataset, job, product or domain"),
      h("div", { class: "search-form" }, text, tag, owner, domain),
      h("div", { class: "kinds" }, kindBoxes),
      summary, results, more));
  text.focus();
  return run();
}

