// Which part of a lineage answer is drawn. A node whose fan-out (in the walk's direction) is
// over the bound shows its neighbours as counted groups (by product, domain or namespace)
// instead; a group expands on click, a page of members at a time. The drawn graph stays at
// a few hundred nodes whatever the answer holds, so a hub with thousands of consumers
// cannot freeze the page. Pure functions: no DOM.

import { nodeKey } from "./dom.js";

/** Members of an expanded group shown per page. */
export const GROUP_PAGE = 25;
/** Groups drawn per node and direction; smaller ones are merged into one "other" group. */
export const MAX_GROUPS = 30;

function link(map, from, to) {
  let set = map.get(from);
  if (!set) map.set(from, (set = new Set()));
  set.add(to);
}

/**
 * The answer of `impact { lineage { nodes edges } groups { … datasets jobs } }` as adjacency
 * maps. With `datasetsOnly`, jobs are contracted away: A -> job -> B becomes A -> B (the
 * jobs are kept as `via`), and a job at the start stays.
 */
export function buildModel(impact, { datasetsOnly = false, startKey } = {}) {
  const nodes = new Map();
  for (const node of impact.lineage.nodes) {
    const key = nodeKey(node.kind, node.namespace, node.name);
    nodes.set(key, { key, kind: node.kind, namespace: node.namespace, name: node.name, distance: node.distance });
  }
  const out = new Map();
  const inn = new Map();
  for (const edge of impact.lineage.edges) {
    const from = nodeKey(edge.from.kind, edge.from.namespace, edge.from.name);
    const to = nodeKey(edge.to.kind, edge.to.namespace, edge.to.name);
    if (!nodes.has(from) || !nodes.has(to)) continue;
    link(out, from, to);
    link(inn, to, from);
  }
  const groupOf = new Map();
  for (const group of impact.groups || []) {
    const place = { product: group.product, domain: group.domain, namespace: group.namespace };
    for (const dataset of group.datasets || []) groupOf.set(nodeKey("DATASET", dataset.namespace, dataset.name), place);
    for (const job of group.jobs || []) groupOf.set(nodeKey("JOB", job.namespace, job.name), place);
  }
  const model = { nodes, out, inn, groupOf, via: new Map(), datasetsOnly };
  if (!datasetsOnly) return model;

  const contractedOut = new Map();
  const contractedIn = new Map();
  for (const node of nodes.values()) {
    if (node.kind !== "JOB" || node.key === startKey) continue;
    const inputs = [...(inn.get(node.key) || [])];
    const outputs = [...(out.get(node.key) || [])];
    for (const input of inputs) {
      for (const output of outputs) {
        link(contractedOut, input, output);
        link(contractedIn, output, input);
        const pair = `${input}\u0001${output}`;
        if (!model.via.has(pair)) model.via.set(pair, []);
        model.via.get(pair).push(node.name);
      }
    }
  }
  if (startKey && nodes.get(startKey) && nodes.get(startKey).kind === "JOB") {
    for (const output of out.get(startKey) || []) { link(contractedOut, startKey, output); link(contractedIn, output, startKey); }
    for (const input of inn.get(startKey) || []) { link(contractedOut, input, startKey); link(contractedIn, startKey, input); }
  }
  for (const key of [...nodes.keys()]) if (nodes.get(key).kind === "JOB" && key !== startKey) nodes.delete(key);
  return { ...model, out: contractedOut, inn: contractedIn };
}

/** `sales_staging` of `sales_staging.dim_orders`: what a name says about where it belongs. */
function namePrefix(name) {
  const dot = name.lastIndexOf(".");
  if (dot > 0) return name.slice(0, dot);
  const part = name.split(/[_/:-]/)[0];
  return part && part !== name ? part : name.slice(0, 1);
}

/** The group a node falls in when its parent's fan-out is collapsed. */
export function groupKeyOf(model, node, groupBy) {
  if (groupBy === "prefix") {
    const prefix = namePrefix(node.name);
    return { key: `prefix:${node.namespace}\u0000${prefix}`, label: `${prefix}…`, kind: "name prefix", note: "" };
  }
  const place = model.groupOf.get(node.key) || {};
  const outside = groupBy === "product" ? " (no product)" : "";
  if (groupBy === "product" && place.product) return { key: `product:${place.product}`, label: place.product, kind: "product", note: "" };
  if (groupBy !== "namespace" && place.domain) return { key: `domain:${place.domain}`, label: place.domain, kind: "domain", note: outside };
  return { key: `namespace:${node.namespace}`, label: node.namespace, kind: "namespace", note: groupBy === "namespace" ? "" : " (no domain)" };
}

/** A group's id: stable across reloads, so it can be kept in the URL. */
export function groupId(parentKey, side, groupBy, groupKey) {
  return [parentKey, side, groupBy, groupKey].join("\u0001");
}

/**
 * The drawn part of the model. options: {startKey, direction (DOWNSTREAM, UPSTREAM, BOTH),
 * bound (largest fan-out drawn node by node), groupBy, expanded (Map group id -> members
 * shown), maxVisible (nodes drawn at most)}.
 * Returns {nodes: [{key, type: node|group|more, …}], edges: [{from, to, …}], capped,
 * hiddenInGroups}.
 */
export function visibleGraph(model, options) {
  const { startKey, direction = "DOWNSTREAM", bound = 12, groupBy = "product", expanded = new Map(), maxVisible = 250 } = options;
  const placed = new Set();
  const nodes = [];
  const edges = [];
  const edgeKeys = new Set();
  let capped = false;
  let hiddenInGroups = 0;
  const queue = [];

  const addEdge = (from, to, extra = {}) => {
    const key = `${from}\u0002${to}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    edges.push({ from, to, ...extra });
  };
  const oriented = (parent, child, side, extra) => (side === "down" ? addEdge(parent, child, extra) : addEdge(child, parent, extra));
  const place = (key, parent, side) => {
    if (placed.has(key)) {
      if (parent) oriented(parent, key, side);
      return true;
    }
    if (nodes.length >= maxVisible) {
      capped = true;
      return false;
    }
    placed.add(key);
    nodes.push({ type: "node", ...model.nodes.get(key), side: side || "start" });
    if (parent) oriented(parent, key, side);
    queue.push([key, [side]]);
    return true;
  };

  if (!model.nodes.has(startKey)) return { nodes, edges, capped, hiddenInGroups };
  placed.add(startKey);
  nodes.push({ type: "node", ...model.nodes.get(startKey), side: "start" });
  const startSides = direction === "BOTH" ? ["down", "up"] : direction === "UPSTREAM" ? ["up"] : ["down"];
  queue.push([startKey, startSides]);

  for (let head = 0; head < queue.length; head++) {
    const [key, sides] = queue[head];
    for (const side of sides) {
      const neighbours = (side === "down" ? model.out : model.inn).get(key);
      if (!neighbours) continue;
      const fresh = [];
      for (const next of neighbours) {
        if (placed.has(next)) oriented(key, next, side);
        else if (model.nodes.has(next)) fresh.push(next);
      }
      if (fresh.length <= bound) {
        for (const next of fresh) place(next, key, side);
        continue;
      }
      const partition = (by) => {
        const partitions = new Map();
        for (const next of fresh) {
          const node = model.nodes.get(next);
          const group = groupKeyOf(model, node, by);
          if (!partitions.has(group.key)) partitions.set(group.key, { ...group, members: [] });
          partitions.get(group.key).members.push(node);
        }
        return partitions;
      };
      // One big group says nothing (every neighbour in the same namespace and no mesh
      // descriptors): then the names' prefixes (schemas) split it.
      let groupedBy = groupBy;
      let partitions = partition(groupBy);
      if (partitions.size === 1 && groupBy !== "prefix") {
        const byPrefix = partition("prefix");
        if (byPrefix.size > 1) {
          partitions = byPrefix;
          groupedBy = "prefix";
        }
      }
      let ordered = [...partitions.values()].sort((a, b) => b.members.length - a.members.length || a.label.localeCompare(b.label));
      if (ordered.length > MAX_GROUPS) {
        const rest = ordered.slice(MAX_GROUPS - 1);
        ordered = ordered.slice(0, MAX_GROUPS - 1);
        ordered.push({ key: "other", label: `${rest.length} other groups`, kind: groupedBy === "prefix" ? "name prefix" : groupedBy, note: "", members: rest.flatMap((p) => p.members) });
      }
      for (const part of ordered) {
        if (part.members.length === 1) {
          place(part.members[0].key, key, side);
          continue;
        }
        const id = groupId(key, side, groupedBy, part.key);
        const datasets = part.members.filter((m) => m.kind === "DATASET").length;
        const jobs = part.members.length - datasets;
        const shown = expanded.get(id) || 0;
        if (shown > 0) {
          const members = part.members.slice().sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name, "en", { numeric: true }) || a.namespace.localeCompare(b.namespace));
          let drawn = 0;
          for (const member of members.slice(0, shown)) if (place(member.key, key, side)) drawn++;
          const remaining = members.length - drawn;
          if (remaining > 0) {
            hiddenInGroups += remaining;
            const moreId = `${id}\u0001more`;
            nodes.push({ type: "more", key: moreId, groupId: id, label: part.label, groupKind: part.kind, note: part.note, remaining, shown: drawn, total: members.length, side });
            oriented(key, moreId, side, { group: true });
          }
        } else {
          if (nodes.length >= maxVisible) { capped = true; continue; }
          hiddenInGroups += part.members.length;
          nodes.push({ type: "group", key: id, groupId: id, label: part.label, groupKind: part.kind, note: part.note, datasets, jobs, total: part.members.length, side, members: part.members });
          oriented(key, id, side, { group: true });
        }
      }
    }
  }
  return { nodes, edges, capped, hiddenInGroups };
}
