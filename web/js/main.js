// The explorer's shell: header (search box, token box, watermark), hash routing (every view
// has a URL that can be shared), and the view dispatch.

import { getToken, setToken, showWatermark } from "./api.js";
import { h, fill, route, errorBox } from "./dom.js";
import * as search from "./search.js";
import * as node from "./node.js";
import * as lineage from "./lineage.js";
import * as impact from "./impact.js";
import * as check from "./check.js";
import * as mesh from "./mesh.js";

const VIEWS = {
  search: search.render,
  dataset: node.renderDataset,
  job: node.renderJob,
  run: node.renderRun,
  lineage: lineage.render,
  columns: lineage.renderColumns,
  impact: impact.render,
  check: check.render,
  mesh: mesh.render,
  product: mesh.renderProduct,
  domain: mesh.renderDomain,
};

/** The current route: `#/view?params`. */
export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [view, query] = hash.split("?", 2);
  return { view: view || "search", params: Object.fromEntries(new URLSearchParams(query || "")) };
}

let controller = null;

function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const { view, params } = currentRoute();
  const main = document.getElementById("main");
  showWatermark(null);
  document.querySelectorAll("nav a[data-view]").forEach((link) => {
    link.classList.toggle("active", link.dataset.view === view);
  });
  const renderView = VIEWS[view];
  if (!renderView) {
    fill(main, h("section", { class: "card" }, h("h1", null, "Not found"),
      h("p", null, `There is no view “${view}”. `, h("a", { href: route("search") }, "Search"), " instead.")));
    document.title = "Not found · Tributary";
    return;
  }
  const context = {
    params,
    signal: controller.signal,
    /** Changes the URL without rendering again (search as you type, toggles). */
    replace(view, nextParams) {
      history.replaceState(null, "", route(view, nextParams));
    },
  };
  fill(main);
  Promise.resolve(renderView(main, context)).catch((error) => {
    if (error && error.name === "AbortError") return;
    main.appendChild(errorBox(error));
  });
}

// ---- token box ----------------------------------------------------------------------------

function tokenBox() {
  const input = h("input", {
    type: "password", id: "token-input", placeholder: "API token", autocomplete: "off", value: getToken(),
    "aria-label": "API token",
  });
  const status = h("span", { id: "token-status", class: "muted" }, getToken() ? "token set for this tab" : "");
  const box = h("form", {
    id: "token-box", class: "token-box", hidden: true,
    onsubmit(event) {
      event.preventDefault();
      setToken(input.value.trim());
      status.textContent = input.value.trim() ? "token set for this tab" : "no token";
      hideNotice();
      render();
    },
  },
  input,
  h("button", { type: "submit" }, "Use token"),
  h("button", {
    type: "button",
    onclick() {
      input.value = "";
      setToken("");
      status.textContent = "no token";
      render();
    },
  }, "Forget"),
  status);
  return box;
}

function openTokenBox() {
  const box = document.getElementById("token-box");
  box.hidden = false;
  document.getElementById("token-input").focus();
}

function showNotice(message) {
  const notice = document.getElementById("notice");
  fill(notice, h("strong", null, "Authentication needed. "), message, " ",
    h("button", { type: "button", onclick: openTokenBox }, "Enter a token"));
  notice.hidden = false;
}

function hideNotice() {
  document.getElementById("notice").hidden = true;
}

function header() {
  const query = h("input", {
    type: "search", id: "global-search", placeholder: "Search datasets, jobs, products, domains…",
    "aria-label": "Search",
    onkeydown(event) {
      if (event.key === "Enter") location.hash = route("search", { q: query.value });
    },
  });
  return h("header", { class: "top" },
    h("a", { href: route("search"), class: "brand" }, "Tributary"),
    h("nav", null,
      h("a", { href: route("search"), dataset: { view: "search" } }, "Search"),
      h("a", { href: route("mesh"), dataset: { view: "mesh" } }, "Mesh"),
      h("a", { href: "/graphql", target: "_blank", rel: "noopener" }, "GraphiQL")),
    query,
    h("span", { id: "watermark", class: "watermark", "aria-live": "polite" }),
    h("button", { type: "button", id: "token-button", onclick: () => {
      const box = document.getElementById("token-box");
      box.hidden = !box.hidden;
      if (!box.hidden) document.getElementById("token-input").focus();
    } }, "Token"),
    tokenBox());
}

function start() {
  const app = document.getElementById("app");
  fill(app, header(), h("div", { id: "notice", class: "notice", role: "alert", hidden: true }), h("main", { id: "main" }));
  window.addEventListener("tributary:auth", (event) => {
    showNotice(event.detail.message);
    openTokenBox();
  });
  window.addEventListener("hashchange", render);
  render();
}

start();
