// What the console shows before anyone is signed in, besides the sign-in
// form: joining from an invitation's link, asking for a password reset,
// and choosing a new password from the reset mail's link. The links carry
// their token in the fragment (#invitation=…, #reset=…), which browsers
// never send to a server; it is taken out of the address bar at once.
import { el } from "./dom.js";

// The token of a mailed link this page was opened with, if any, removed
// from the address bar (and history).
export function linkToken() {
  const m = location.hash.match(/^#(invitation|reset)=([A-Za-z0-9_]+)$/);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return { kind: m[1], token: m[2] };
}

async function post(path, body) {
  const res = await fetch("/api/v1" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { ok: res.ok, status: res.status, data: res.status === 202 ? null : await res.json().catch(() => null) };
}

function form(id, title, fields, button, submit) {
  const error = el("p", { id: id + "-error", class: "error", role: "alert" });
  const send = el("button", { type: "submit", text: button });
  const node = el("form", { class: "signin", id, onsubmit: async (e) => {
      e.preventDefault();
      send.disabled = true;
      error.textContent = "";
      try { await submit((text) => { error.textContent = text; }); }
      catch (_) { error.textContent = "Cannot reach the server. Check your connection and try again."; }
      finally { send.disabled = false; }
    } },
    el("h1", { text: title }),
    ...fields.flatMap(([fid, label, attrs]) => [
      el("label", { for: fid, text: label }),
      el("input", Object.assign({ id: fid, name: fid, required: true, "aria-describedby": id + "-error" }, attrs)),
    ]),
    error, send);
  return node;
}

const value = (id) => document.getElementById(id).value;
const problem = (res) => (res.data && res.data.error ? res.data.error.message : "Something went wrong (" + res.status + ").");

// Join from an invitation: a name and a password, then signed in.
export function showInvitation(main, token, signedIn) {
  main.replaceChildren(form("accept-form", "Join your team on Threadline", [
    ["accept-name", "Your name (optional)", { type: "text", autocomplete: "name", required: false }],
    ["accept-password", "Choose a password (at least 10 characters)", { type: "password", autocomplete: "new-password", minlength: "10" }],
  ], "Join", async (fail) => {
    const res = await post("/auth/invitation", { token, password: value("accept-password"), name: value("accept-name").trim() || null });
    if (!res.ok) { fail(problem(res)); return; }
    signedIn(res.data);
  }));
  document.getElementById("accept-name").focus();
}

// Ask for a reset mail: the answer is the same whether the account exists.
export function showResetRequest(main, workspace, back) {
  main.replaceChildren(form("reset-request-form", "Reset your password", [
    ["reset-workspace", "Workspace", { type: "text", autocapitalize: "none", spellcheck: "false", value: workspace || "" }],
    ["reset-email", "Email", { type: "email", autocomplete: "username" }],
  ], "Mail me a link", async (fail) => {
    const res = await post("/auth/password-reset", { workspace: value("reset-workspace").trim(), email: value("reset-email").trim() });
    if (!res.ok) { fail(problem(res)); return; }
    main.replaceChildren(el("section", { class: "signin", id: "reset-sent" },
      el("h1", { text: "Check your mail" }),
      el("p", { role: "status", text: "If that account exists, a link to choose a new password is on its way. It works once, for an hour." }),
      el("button", { type: "button", class: "secondary", onclick: back, text: "Back to sign in" })));
  }), el("p", {}, el("button", { type: "button", class: "secondary", onclick: back, text: "Back to sign in" })));
  document.getElementById(workspace ? "reset-email" : "reset-workspace").focus();
}

// Choose a new password from the reset mail's link; signed in after.
export function showResetComplete(main, token, signedIn) {
  main.replaceChildren(form("reset-form", "Choose a new password", [
    ["reset-password", "New password (at least 10 characters)", { type: "password", autocomplete: "new-password", minlength: "10" }],
  ], "Set password", async (fail) => {
    const res = await post("/auth/password-reset/complete", { token, new_password: value("reset-password") });
    if (!res.ok) { fail(problem(res)); return; }
    signedIn(res.data);
  }));
  document.getElementById("reset-password").focus();
}
