// Draws a small graph (the visible part of a lineage answer: collapsed groups keep it small)
// as SVG, laid out by dagre (vendored: web/vendor/dagre), with pan (drag) and zoom (wheel,
// buttons). Knows nothing of lineage: nodes and edges come with their labels and classes.

import { h, s, fill } from "./dom.js";

const CHAR_PX = 7.1;
const MAX_LABEL_CHARS = 38;

function truncate(text, max = MAX_LABEL_CHARS) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

function nodeSize(node) {
  const label = truncate(node.label || "");
  const sub = truncate(node.sublabel || "");
  const chars = Math.max(label.length, sub.length * 0.9);
  const width = Math.max(node.minWidth || 70, Math.min(300, Math.round(chars * CHAR_PX + 26)));
  return { width, height: node.sublabel ? 42 : 28 };
}

/**
 * Lays out and draws `graph` into `container`.
 * graph.nodes: {id, label, sublabel?, cls?, title?, parent?, data?, onClick?}; nodes that are
 * some node's `parent` are drawn as clusters around their children.
 * graph.edges: {from, to, cls?, label?, title?}.
 * Returns {svg, layoutMs, nodeCount, edgeCount, focus(id)}.
 */
export function renderGraph(container, graph, { rankdir = "LR", ranksep = 70, nodesep = 14, focusId = null } = {}) {
  const began = performance.now();
  const parents = new Set(graph.nodes.filter((n) => n.parent).map((n) => n.parent));
  const g = new dagre.graphlib.Graph({ compound: parents.size > 0, multigraph: true });
  g.setGraph({ rankdir, ranksep, nodesep, edgesep: 8, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  const byId = new Map();
  for (const node of graph.nodes) {
    byId.set(node.id, node);
    if (parents.has(node.id)) g.setNode(node.id, { label: node.label, clusterLabelPos: "top", paddingTop: 22 });
    else g.setNode(node.id, nodeSize(node));
  }
  for (const node of graph.nodes) if (node.parent && byId.has(node.parent)) g.setParent(node.id, node.parent);
  graph.edges.forEach((edge, index) => {
    if (!byId.has(edge.from) || !byId.has(edge.to)) return;
    const label = edge.label ? { label: edge.label, width: edge.label.length * 6 + 6, height: 14, labelpos: "c" } : {};
    g.setEdge(edge.from, edge.to, label, `e${index}`);
  });
  dagre.layout(g);
  const layoutMs = performance.now() - began;

  const size = g.graph();
  const width = Math.max(size.width || 0, 200);
  const height = Math.max(size.height || 0, 120);
  const viewport = s("g", { class: "viewport" });
  const svg = s("svg", { class: "graph", role: "img", "aria-label": graph.ariaLabel || "lineage graph", xmlns: "http://www.w3.org/2000/svg" },
    s("defs", null,
      ["edge", "indirect", "masked", "highlight", "unverified"].map((name) => s("marker", {
        id: `arrow-${name}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
      }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: `arrow arrow-${name}` })))),
    viewport);

  // Clusters first (behind), then edges, then nodes.
  for (const id of parents) {
    const box = g.node(id);
    if (!box) continue;
    const node = byId.get(id);
    viewport.appendChild(s("g", { class: `cluster ${node.cls || ""}`, dataset: { id, ...(node.data || {}) } },
      s("title", null, node.title || node.label),
      s("rect", { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx: 8 }),
      s("text", { x: box.x - box.width / 2 + 10, y: box.y - box.height / 2 + 15, class: "cluster-label" }, truncate(node.label, 48))));
  }
  graph.edges.forEach((edge, index) => {
    const laid = g.edge({ v: edge.from, w: edge.to, name: `e${index}` });
    if (!laid || !laid.points) return;
    const d = laid.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    const marker = (edge.cls || "").split(" ").find((c) => ["indirect", "masked", "highlight", "unverified"].includes(c)) || "edge";
    viewport.appendChild(s("g", { class: `edge ${edge.cls || ""}`, dataset: { from: edge.from, to: edge.to } },
      edge.title ? s("title", null, edge.title) : null,
      s("path", { d, "marker-end": `url(#arrow-${marker})` }),
      edge.label && laid.x !== undefined ? s("text", { x: laid.x, y: laid.y + 4, class: "edge-label", "text-anchor": "middle" }, edge.label) : null));
  });
  for (const node of graph.nodes) {
    if (parents.has(node.id)) continue;
    const box = g.node(node.id);
    if (!box) continue;
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    const element = s("g", {
      class: `node ${node.cls || ""}`, tabindex: node.onClick ? 0 : null, role: node.onClick ? "button" : null,
      dataset: { id: node.id, ...(node.data || {}) },
    },
    s("title", null, node.title || node.label),
    s("rect", { x, y, width: box.width, height: box.height, rx: node.cls && node.cls.includes("group") ? 14 : 5 }),
    s("text", { x: box.x, y: node.sublabel ? box.y - 4 : box.y + 4, "text-anchor": "middle", class: "label" }, truncate(node.label || "")),
    node.sublabel ? s("text", { x: box.x, y: box.y + 12, "text-anchor": "middle", class: "sublabel" }, truncate(node.sublabel)) : null);
    if (node.onClick) {
      element.addEventListener("click", (event) => { event.stopPropagation(); node.onClick(node, event); });
      element.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); node.onClick(node, event); }
      });
    }
    viewport.appendChild(element);
  }

  // Pan and zoom through the viewport's transform.
  let scale = 1;
  let tx = 0;
  let ty = 0;
  const apply = () => viewport.setAttribute("transform", `translate(${tx.toFixed(1)},${ty.toFixed(1)}) scale(${scale.toFixed(3)})`);
  const frame = h("div", { class: "graph-frame" });
  const controls = h("div", { class: "graph-controls" },
    h("button", { type: "button", title: "Zoom in", onclick: () => zoomAt(1.25) }, "+"),
    h("button", { type: "button", title: "Zoom out", onclick: () => zoomAt(0.8) }, "−"),
    h("button", { type: "button", title: "Fit", onclick: () => fit() }, "Fit"));
  fill(container, h("div", { class: "graph-wrap" }, controls, frame));
  frame.appendChild(svg);
  const viewWidth = () => frame.clientWidth || 900;
  const viewHeight = () => frame.clientHeight || 560;
  function zoomAt(factor, cx = viewWidth() / 2, cy = viewHeight() / 2) {
    const next = Math.min(4, Math.max(0.05, scale * factor));
    tx = cx - ((cx - tx) * next) / scale;
    ty = cy - ((cy - ty) * next) / scale;
    scale = next;
    apply();
  }
  /** The whole graph in view, unless that makes labels unreadable: then at half size,
   * centred on `focusId` (the start node). */
  function fit() {
    const whole = Math.min(1.2, viewWidth() / width, viewHeight() / height);
    scale = Math.max(whole, 0.5);
    tx = (viewWidth() - width * scale) / 2;
    ty = Math.max(0, (viewHeight() - height * scale) / 2);
    const focus = focusId && g.node(focusId);
    if (scale > whole && focus) {
      tx = Math.min(24, viewWidth() / 2 - focus.x * scale);
      ty = viewHeight() / 2 - focus.y * scale;
    }
    apply();
  }
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest && event.target.closest(".node")) return;
    drag = { x: event.clientX - tx, y: event.clientY - ty };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    tx = event.clientX - drag.x;
    ty = event.clientY - drag.y;
    apply();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  fit();

  return {
    svg,
    layoutMs,
    nodeCount: graph.nodes.length,
    edgeCount: graph.edges.length,
    /** Centres the view on a node. */
    focus(id) {
      const box = g.node(id);
      if (!box) return;
      tx = viewWidth() / 2 - box.x * scale;
      ty = viewHeight() / 2 - box.y * scale;
      apply();
    },
  };
}

