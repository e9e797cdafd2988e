// The REST API as the console calls it: the session's token on every
// request, JSON both ways, and the next page's link of a list.
import { state } from "./state.js";

export async function api(method, path, body) {
  const res = await fetch("/api/v1" + path, {
    method,
    headers: Object.assign({ Authorization: "Bearer " + state.token }, body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401) { state.onSignedOut(); throw new Error("signed out"); }
  const link = (res.headers.get("Link") || "").match(/<([^>]+)>;\s*rel="next"/);
  return { status: res.status, ok: res.ok, data, next: link ? link[1] : null };
}
