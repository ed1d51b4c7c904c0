// Small DOM helpers shared by the views. Every text from the server goes through text nodes
// (never innerHTML), so names and facet values cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" && "value" in element) {
      element.value = value;
    } else if (name === "checked" || name === "selected" || name === "disabled") {
      element[name] = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** `h("a", {href: "#/"}, "text", child, [more])`: an HTML element. */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

/** The same for SVG elements. */
export function s(tag, attributes, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

export function clear(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
  return element;
}

/** Replaces the children of `element`. */
export function fill(element, ...children) {
  clear(element);
  append(element, children);
  return element;
}

// ---- routes ---------------------------------------------------------------------------

/** `#/view?k=v&…` with the parameters that are set. */
export function route(view, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    query.set(key, value === true ? "1" : String(value));
  }
  const text = query.toString();
  return `#/${view}${text ? "?" + text : ""}`;
}

/** The page of a dataset or job. */
export function nodeRoute(kind, namespace, name) {
  return route(kind === "JOB" ? "job" : "dataset", { ns: namespace, name });
}

/** The namespace prefix of a dataset the token may not see (`redacted:<domain>`). */
export const REDACTED_PREFIX = "redacted:";

/**
 * A dataset of a restricted product shown to a reader without its domain: the server names
 * it `<product>#<opaque id>` in namespace `redacted:<domain>` and refuses its page.
 */
export function isRedacted(node) {
  return (node.kind || "DATASET") === "DATASET" && String(node.namespace || "").startsWith(REDACTED_PREFIX);
}

/** Why a redacted node has no page, for its tooltip and the lineage panel. */
export function redactedNote(node) {
  const domain = String(node.namespace).slice(REDACTED_PREFIX.length);
  const product = String(node.name).split("#")[0];
  return `a dataset of restricted product ${product}: seeing it needs the scope domain:${domain}`;
}

export function nodeLink(node, text) {
  const kind = node.kind || "DATASET";
  if (isRedacted(node)) {
    return h("span", { class: "node-link redacted", title: `${node.namespace}:${node.name}, ${redactedNote(node)}`, dataset: { redacted: "1" } },
      text ?? node.name);
  }
  return h("a", { href: nodeRoute(kind, node.namespace, node.name), class: "node-link", title: `${node.namespace}:${node.name}` },
    text ?? node.name);
}

export function nodeLabel(node) {
  return `${node.namespace}:${node.name}`;
}

/** A key for a dataset or job that cannot collide between kinds or name splits. */
export function nodeKey(kind, namespace, name) {
  return `${kind === "JOB" ? "J" : "D"}\u0000${namespace}\u0000${name}`;
}

// ---- formatting -------------------------------------------------------------------------

export function fmtNumber(value) {
  return Number(value).toLocaleString("en-US");
}

/** `1 dataset`, `2 datasets`. */
export function plural(count, word) {
  return `${fmtNumber(count)} ${word}${count === 1 ? "" : "s"}`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:00Z$/, "Z");
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Duration of a run from its timestamps, or null while it has not ended. */
export function runDuration(run) {
  if (!run.startedAt || !run.endedAt) return null;
  return new Date(run.endedAt).getTime() - new Date(run.startedAt).getTime();
}

export function ago(iso) {
  if (!iso) return "never";
  const ms = Date.now() - new Date(iso).getTime();
  if (Number.isNaN(ms)) return iso;
  return ms < 0 ? `in ${fmtDuration(-ms)}` : `${fmtDuration(ms)} ago`;
}

export function badge(text, kind) {
  return h("span", { class: `badge badge-${String(kind || text).toLowerCase().replace(/[^a-z0-9]+/g, "-")}` }, text);
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function table(headers, rows, attributes = {}) {
  return h("table", attributes,
    h("thead", null, h("tr", null, headers.map((header) => h("th", null, header)))),
    h("tbody", null, rows));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", null, title), children);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

/** An error shown where the answer would have been. */
export function errorBox(error) {
  const codes = error && error.code ? ` (${error.code})` : "";
  return h("div", { class: "error", role: "alert" }, `${error && error.message ? error.message : error}${codes}`);
}

// ---- files ------------------------------------------------------------------------------

export function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csv(rows) {
  return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** A link that downloads `text`; the blob URL stays readable for tests (`data-href`). */
export function downloadLink(label, filename, text, mime = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type: `${mime};charset=utf-8` }));
  return h("a", { class: "button", href: url, download: filename, dataset: { href: url } }, label);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
