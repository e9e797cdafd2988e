// The "Conversion rules" page (admins): per hook, the plugin in use, its
// settings as a form generated from the schema the plugin declares, its
// policy and limits; a shadow run of the changes over recent chats; save;
// upload a plugin; a staged rollout of the changes and the live plugin log
// (rollout.js); recent faults, usage, and the history with rollback.
import { api } from "./api.js";
import { el, showPage, when } from "./dom.js";
import { state } from "./state.js";
import { pluginLog, rolloutPanel } from "./rollout.js";

// The built-in plugin that runs a rule written in JavaScript.
const JAVASCRIPT = "javascript";
// The page's hook forms, for a hook's "Try on this chat" (which runs the
// pipeline as all the forms stand).
let allForms = [];
// Each hook's JavaScript function name and first rule, as the server says
// (GET /pipeline/hooks), by hook.
let jsRules = {};

export async function showRules() {
  const page = showPage({ class: "ticket rules", id: "rules" }, el("h2", { text: "Conversion rules" }), el("p", { text: "Loading…" }));
  const [pipeline, plugins, faults, history, usage, hooks] = await Promise.all(
    ["/pipeline", "/plugins", "/plugins/faults?limit=10", "/pipeline/history", "/plugins/usage", "/pipeline/hooks"].map((p) => api("GET", p)));
  if (!state.current || state.current.kind !== "rules") return;
  if (pipeline.status === 403) { page.replaceChildren(el("h2", { text: "Conversion rules" }), el("p", { class: "error", text: "Only admins can change conversion rules." })); return; }
  const byId = Object.fromEntries(plugins.data.map((p) => [p.id, p]));
  jsRules = Object.fromEntries(hooks.data.map((h) => [h.hook, h]));
  const forms = hooks.data.map((h) => hookForm(h.hook, pipeline.data.hooks[h.hook], plugins.data, byId));
  allForms = forms;
  const message = el("p", { id: "rules-message", role: "status" });
  const results = el("section", { id: "shadow-results", "aria-live": "polite" });
  const last = el("input", { id: "shadow-last", type: "number", min: "1", max: "200", value: "20" });
  page.replaceChildren(
    el("h2", { text: "Conversion rules" }),
    el("p", { class: "meta", text: "Each step of Convert to ticket runs a plugin. Change its settings, try the change on recent chats, then save." }),
    ...forms.map((f) => f.node),
    el("div", { class: "row actions" },
      el("label", { for: "shadow-last", class: "inline", text: "Try on the last" }), last,
      el("span", { text: "closed chats" }),
      el("button", { type: "button", id: "shadow-run", class: "secondary", onclick: async () => {
          message.textContent = "Running…";
          const res = await api("POST", "/pipeline/shadow", { hooks: candidate(forms), last: Number(last.value) });
          if (!res.ok) { message.textContent = problem(res); showSourceError(forms, res); return; }
          message.textContent = "";
          clearSourceErrors(forms);
          renderShadow(results, res.data);
        }, text: "Shadow run" }),
      el("button", { type: "button", id: "save-rules", onclick: async () => {
          const res = await api("PUT", "/pipeline", { hooks: candidate(forms) });
          if (!res.ok) { message.textContent = problem(res); showSourceError(forms, res); return; }
          await showRules();
          const shown = document.getElementById("rules-message");
          if (shown) shown.textContent = "Saved.";
        }, text: "Save" })),
    message,
    results,
    rolloutPanel(() => candidate(forms), async (text) => {
      await showRules();
      const shown = document.getElementById("rules-message");
      if (shown) shown.textContent = text;
    }, (res) => { message.textContent = problem(res); showSourceError(forms, res); }),
    pluginLog(),
    uploadForm(),
    el("h3", { text: "Recent faults" }),
    faults.data.length ? el("ul", { id: "rules-faults" }, faults.data.map((f) =>
      el("li", {}, el("strong", { text: f.hook + " · " + f.plugin_name }), " " + f.reason + " (" + f.outcome.replace("_", " ") + ", " + when(f.created_at) + ")")))
      : el("p", { class: "meta", text: "No faults." }),
    el("h3", { text: "Plugin usage (this node, last hour)" }),
    el("ul", { id: "rules-usage" }, (usage.data.hooks || []).map((u) =>
      el("li", { text: u.hook + " · " + u.plugin_name + ": " + u.calls + " calls" }))),
    el("h3", { text: "History" }),
    el("ol", { id: "rules-history" }, history.data.map((v) =>
      el("li", {}, "Version " + v.version + " by " + v.changed_by.name + ", " + when(v.changed_at) + (v.note ? " (" + v.note + ")" : "") + " ",
        el("button", { type: "button", class: "secondary", onclick: async () => {
            const res = await api("POST", "/pipeline/rollback", { version: v.version });
            if (!res.ok) { message.textContent = problem(res); return; }
            await showRules();
            const shown = document.getElementById("rules-message");
            if (shown) shown.textContent = "Rolled back to version " + v.version + ".";
          }, text: "Roll back to this" })))));
}

function problem(res) {
  const e = res.data && res.data.error;
  return e ? (e.field ? e.field + ": " : "") + e.message : "The server answered " + res.status + ".";
}

// A JavaScript rule the server refused: the error under its editor, its
// line marked, the caret put there.
function showSourceError(forms, res) {
  const e = res.data && res.data.error;
  const hit = e && /^hooks\.(\w+)\.config\.source$/.exec(e.field || "");
  const form = hit && forms.find((f) => f.hook === hit[1]);
  if (!form || !form.editor) return false;
  form.editor.fail(e.message, e.line, e.column);
  return true;
}

function clearSourceErrors(forms) {
  for (const f of forms) if (f.editor) f.editor.fail(null);
}

// A monospace editor for a rule: a textarea beside a gutter of line
// numbers kept in step with it; an error is shown under it, at its line.
function codeEditor(hook, text) {
  const id = "source-" + hook;
  const gutter = el("pre", { class: "gutter", "aria-hidden": "true" });
  const area = el("textarea", { id, class: "code", spellcheck: "false", autocapitalize: "off", autocomplete: "off",
    wrap: "off", rows: "10", "aria-describedby": "source-error-" + hook });
  area.value = text;
  const error = el("p", { id: "source-error-" + hook, class: "error source-error", role: "alert" });
  let errorLine = 0;
  const number = () => {
    const lines = area.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: lines }, (_, i) =>
      el("span", { class: i + 1 === errorLine ? "error-line" : null, text: String(i + 1) + "\n" })));
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener("input", () => { errorLine = 0; error.textContent = ""; number(); });
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  // Tab indents (two spaces) instead of leaving the editor; Escape then
  // Tab still leaves it, so the keyboard is never trapped.
  let escaped = false;
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { escaped = true; return; }
    if (ev.key === "Tab" && !ev.shiftKey && !escaped) {
      ev.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      number();
    }
    escaped = false;
  });
  number();
  return {
    node: el("div", { class: "setting" },
      el("label", { for: id, text: "Rule (JavaScript): a function named " + jsRules[hook].javascript_function }),
      el("div", { class: "editor" }, gutter, area), error),
    value: () => area.value,
    fail(message, line, column) {
      error.textContent = message ? message : "";
      errorLine = message && line ? line : 0;
      number();
      if (message && line) {
        // The caret at the error, as an editor would put it.
        const lines = area.value.split("\n");
        let at = 0;
        for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
        at += Math.max(0, (column || 1) - 1);
        area.focus();
        area.setSelectionRange(at, at);
      }
    },
  };
}

// "Try on this chat": the hook's rule as the form stands, on one chat (or
// the latest closed one), its answer or fault shown under the editor.
function tryOnChat(hook, forms) {
  const chat = el("input", { id: "try-chat-" + hook, type: "text", placeholder: "latest closed chat" });
  const result = el("pre", { id: "try-result-" + hook, class: "try-result", "aria-live": "polite" });
  const run = el("button", { type: "button", id: "try-" + hook, class: "secondary", text: "Try on this chat", onclick: async () => {
      result.textContent = "Running…";
      const id = chat.value.trim().replace(/^.*#\/chats\//, "");
      const body = { hooks: candidate(forms()), hook };
      if (id) body.chat_ids = [id]; else body.last = 1;
      const res = await api("POST", "/pipeline/shadow", body);
      if (!res.ok) { result.textContent = showSourceError(forms(), res) ? "" : problem(res); return; }
      clearSourceErrors(forms());
      const one = res.data.chats[0];
      const h = one && one.hooks.find((x) => x.hook === hook);
      if (!h) { result.textContent = "No closed chat to try it on."; return; }
      const side = h.candidate;
      const answer = side.fault ? "Fault: " + side.fault.reason
        : (typeof side.output === "string" ? side.output : JSON.stringify(side.output));
      result.textContent = "Chat " + one.chat_id.slice(-8) + " → " + answer +
        (side.fuel ? " (" + (side.fuel / 1e6).toFixed(1) + " M fuel, " + side.elapsed_ms.toFixed(1) + " ms)" : "");
    } });
  return el("div", { class: "row try" },
    el("label", { for: "try-chat-" + hook, class: "inline", text: "Chat" }), chat, run, result);
}

// One hook's fieldset: plugin, settings from its schema, policy, limits.
function hookForm(hook, now, plugins, byId) {
  const usable = plugins.filter((p) => p.hooks.includes(hook));
  const select = el("select", { id: "plugin-" + hook }, usable.map((p) =>
    el("option", { value: p.id, selected: p.id === now.plugin, text: p.builtin ? p.name + " (built in)" : p.name })));
  const settings = el("div", { class: "settings" });
  const policy = el("select", { id: "policy-" + hook },
    ["fallback", "reject"].map((v) => el("option", { value: v, selected: v === now.policy, text: v === "fallback" ? "Fall back to the built-in rule" : "Refuse the conversion" })));
  const limit = (key, label) => [el("label", { for: "limit-" + hook + "-" + key, text: label }),
    el("input", { id: "limit-" + hook + "-" + key, type: "number", min: "1", value: String(now.limits[key]) })];
  const hosts = el("input", { id: "hosts-" + hook, type: "text", value: (now.allowed_hosts || []).join(", "),
    placeholder: "none" });
  const form = { hook, select, policy, hosts, inputs: {}, keep: {}, editor: null };
  const draw = () => {
    const plugin = byId[select.value];
    const schema = plugin && plugin.manifest ? plugin.manifest.settings : null;
    const config = select.value === now.plugin ? now.config : {};
    form.inputs = {};
    form.keep = schema ? {} : config;
    form.editor = null;
    if (select.value === JAVASCRIPT) {
      form.keep = {};
      form.editor = codeEditor(hook, config.source || jsRules[hook].javascript_starter);
      settings.replaceChildren(form.editor.node, tryOnChat(hook, () => allForms));
      return;
    }
    if (!schema) { settings.replaceChildren(el("p", { class: "meta", text: "This plugin declares no settings." })); return; }
    if (!schema.length) { settings.replaceChildren(el("p", { class: "meta", text: "No settings." })); return; }
    settings.replaceChildren(...schema.map((s) => {
      const id = "setting-" + hook + "-" + s.key;
      const value = config[s.key] !== undefined ? config[s.key] : (s.default || "");
      let input;
      if (s.kind === "choice" || s.kind === "boolean") {
        const choices = s.kind === "boolean" ? ["true", "false"] : s.choices;
        input = el("select", { id }, choices.map((c) => el("option", { value: c, selected: c === value, text: c })));
      } else {
        input = el("input", { id, type: s.kind === "integer" ? "number" : "text", value, placeholder: s.default || "" });
      }
      form.inputs[s.key] = { input, spec: s };
      return el("div", { class: "setting" }, el("label", { for: id, text: s.key }), input,
        s.description ? el("p", { class: "meta", text: s.description }) : null);
    }));
  };
  select.addEventListener("change", () => {
    // Another plugin has other default limits (JavaScript's are larger):
    // left blank, the server fills them in.
    for (const k of ["timeout_ms", "fuel", "memory_bytes"]) {
      const input = document.getElementById("limit-" + hook + "-" + k);
      if (input) input.value = select.value === now.plugin ? String(now.limits[k]) : "";
    }
    draw();
  });
  draw();
  form.node = el("fieldset", { class: "hook", id: "hook-" + hook },
    el("legend", { text: hook[0].toUpperCase() + hook.slice(1) }),
    el("label", { for: "plugin-" + hook, text: "Plugin" }), select,
    settings,
    el("label", { for: "policy-" + hook, text: "When it fails" }), policy,
    el("label", { for: "hosts-" + hook, text: "Hosts it may call (comma-separated)" }), hosts,
    el("details", {}, el("summary", { text: "Limits" }),
      ...limit("timeout_ms", "Time limit (ms)"), ...limit("fuel", "Fuel (instructions)"), ...limit("memory_bytes", "Memory (bytes)")));
  form.limits = () => Object.fromEntries(["timeout_ms", "fuel", "memory_bytes"]
    .map((k) => [k, document.getElementById("limit-" + hook + "-" + k).value.trim()])
    .filter(([, v]) => v !== "").map(([k, v]) => [k, Number(v)]));
  return form;
}

// The pipeline the forms describe, as PUT /pipeline takes it. A setting
// left at its default is left out.
function candidate(forms) {
  return Object.fromEntries(forms.map((f) => {
    const config = Object.assign({}, f.keep);
    if (f.editor) config.source = f.editor.value();
    for (const [key, { input, spec }] of Object.entries(f.inputs)) {
      const v = input.value;
      if (v !== "" && v !== (spec.default || "")) config[key] = v;
    }
    const allowed_hosts = f.hosts.value.split(",").map((h) => h.trim()).filter(Boolean);
    return [f.hook, { plugin: f.select.value, config, policy: f.policy.value, limits: f.limits(), allowed_hosts }];
  }));
}

function renderShadow(node, run) {
  const rows = [];
  for (const chat of run.chats) {
    for (const h of chat.hooks.filter((h) => h.changed)) {
      const show = (side) => side.fault ? "Fault: " + side.fault.reason : (typeof side.output === "string" ? side.output : JSON.stringify(side.output));
      rows.push(el("tr", {},
        el("td", {}, el("a", { href: "#/chats/" + chat.chat_id, text: chat.chat_id.slice(-8) })),
        el("td", { text: h.hook }),
        el("td", {}, el("pre", { text: show(h.current) })),
        el("td", {}, el("pre", { class: "candidate", text: show(h.candidate) }))));
    }
  }
  node.replaceChildren(
    el("h3", { text: "Shadow run" }),
    el("p", { id: "shadow-summary", text: run.changed + " of " + run.chats.length + " chats would change." }),
    run.stopped ? el("p", { id: "shadow-stopped", class: "meta", text: run.stopped[0].toUpperCase() + run.stopped.slice(1) + "." }) : null,
    rows.length ? el("table", { class: "shadow" },
      el("thead", {}, el("tr", {}, ["Chat", "Step", "Now", "With your changes"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rows)) : null);
}

function uploadForm() {
  const file = el("input", { id: "upload-file", type: "file", accept: ".wasm,application/wasm" });
  const name = el("input", { id: "upload-name", type: "text", placeholder: "from the plugin" });
  const status = el("p", { id: "upload-status", role: "status" });
  return el("form", { class: "upload", onsubmit: async (e) => {
      e.preventDefault();
      if (!file.files.length) { status.textContent = "Pick a .wasm file."; return; }
      const query = name.value.trim() ? "?name=" + encodeURIComponent(name.value.trim()) : "";
      const res = await fetch("/api/v1/plugins" + query, { method: "POST",
        headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/wasm" }, body: file.files[0] });
      const data = await res.json().catch(() => null);
      status.textContent = res.ok ? "Installed " + data.name + "." : problem({ status: res.status, data });
      if (res.ok) showRules();
    } },
    el("h3", { text: "Upload a plugin" }),
    el("label", { for: "upload-file", text: "Component (.wasm)" }), file,
    el("label", { for: "upload-name", text: "Name (optional)" }), name,
    el("button", { type: "submit", text: "Upload" }), status);
}
