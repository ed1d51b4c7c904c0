// The one way the explorer talks to the server: GraphQL POSTs to /graphql, with the token the
// user entered (kept in sessionStorage, so for this tab only) as `Authorization: Bearer`.

const TOKEN_KEY = "tributary.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The server refused the request for want of (valid) credentials or permission. */
export class AuthError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

/** A GraphQL error answer (bad input, not found, unavailable, …). */
export class QueryError extends Error {
  constructor(errors) {
    const first = errors[0] || {};
    super(first.message || "the query failed");
    this.name = "QueryError";
    this.code = first.extensions && first.extensions.code;
    this.field = first.extensions && first.extensions.field;
    this.errors = errors;
  }
}

const AUTH_CODES = new Set(["UNAUTHENTICATED", "FORBIDDEN", "PERMISSION_DENIED"]);

function authFailure(error) {
  // Everyone listening (the header's token box) learns that a token is needed.
  window.dispatchEvent(new CustomEvent("tributary:auth", { detail: { message: error.message, code: error.code } }));
  return error;
}

/**
 * Runs a GraphQL query; resolves to `data`, rejects with AuthError (HTTP 401/403, or an
 * UNAUTHENTICATED/FORBIDDEN error code), QueryError, or the fetch's own error (aborted,
 * network down).
 */
export async function gql(query, variables = {}, { signal } = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
    signal,
    credentials: "same-origin",
  });
  if (response.status === 401 || response.status === 403) {
    const message = response.status === 401
      ? (token ? "The server refused the token (HTTP 401): enter a valid one." : "This server requires a token (HTTP 401): enter one.")
      : "The token does not allow this request (HTTP 403).";
    throw authFailure(new AuthError(message, response.status === 401 ? "UNAUTHENTICATED" : "FORBIDDEN"));
  }
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(`the server answered HTTP ${response.status} without JSON`);
  }
  if (body.errors && body.errors.length) {
    const error = new QueryError(body.errors);
    if (AUTH_CODES.has(error.code)) {
      throw authFailure(new AuthError(
        error.code === "UNAUTHENTICATED"
          ? `This server requires a valid token: ${error.message}`
          : `The token does not allow this: ${error.message}`,
        error.code));
    }
    throw error;
  }
  if (!response.ok) throw new Error(`the server answered HTTP ${response.status}`);
  return body.data;
}

export const WATERMARK = "watermark { sequence events }";
export const NODE = "kind namespace name";

/** Shows which ingested events the current page reflects (in the header). */
export function showWatermark(watermark) {
  const element = document.getElementById("watermark");
  if (!element) return;
  if (!watermark) {
    element.textContent = "";
    delete element.dataset.sequence;
    return;
  }
  element.textContent = `reflects events up to #${Number(watermark.sequence).toLocaleString("en-US")}`;
  element.title = `${Number(watermark.events).toLocaleString("en-US")} distinct events stored at that point`;
  element.dataset.sequence = String(watermark.sequence);
}
