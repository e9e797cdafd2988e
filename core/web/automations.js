// The Automations page (admins): the workspace's rules (the built-in
// timed ones with their settings, and JavaScript rules on events) and its
// webhooks, each with its delivery log and "Send again".
import { api } from "./api.js";
import { el, showPage } from "./dom.js";
import { state } from "./state.js";

const EVENTS = ["ticket_created", "ticket_updated", "comment_added", "chat_started", "chat_closed", "sla_breached"];
const BUILTINS = {
  "close-pending": { label: "Close pending tickets", fields: [["days", "Days without a customer reply", "number"]] },
  "escalate-before-breach": { label: "Escalate before an SLA breach", fields: [
    ["minutes", "Minutes before the target", "number"], ["priority", "Raise the priority to (low, normal, high, urgent)", "text"],
    ["assignee_id", "Reassign to (an agent's id)", "text"], ["note", "Internal note", "text"]] },
  "chat-wait-reply": { label: "Answer a waiting chat", fields: [["minutes", "Minutes the chat waited", "number"], ["message", "Message", "text"]] },
};
const STARTER = "// Runs on each ticket_updated event; returns actions.\nfunction ticket_updated(event, context) {\n  if (event.changes.status && event.changes.status.to === \"pending\") {\n    return [{ type: \"add_tags\", tags: [\"waiting\"] }];\n  }\n  return [];\n}\n";

const problem = (res) => (res.data && res.data.error ? res.data.error.message : "Something went wrong (" + res.status + ").");
const here = () => state.current && state.current.kind === "automations";

export async function showAutomations(notice) {
  const page = showPage({ class: "ticket automations", id: "automations" }, el("h2", { text: "Automations" }), el("p", { text: "Loading…" }));
  const [rules, hooks] = await Promise.all([api("GET", "/automations"), api("GET", "/webhooks")]);
  if (!here()) return;
  if (!rules.ok || !hooks.ok) {
    page.replaceChildren(el("h2", { text: "Automations" }), el("p", { id: "automations-message", text: problem(rules.ok ? hooks : rules) }));
    return;
  }
  const message = el("p", { id: "automations-message", role: "status", text: notice || "" });
  const say = (text) => { message.textContent = text; };
  page.replaceChildren(el("h2", { text: "Automations" }), message,
    ruleList(rules.data, say), builtinForm(say), scriptForm(say),
    el("h2", { text: "Webhooks" }), webhookList(hooks.data, say), webhookForm(say),
    el("section", { id: "deliveries", "aria-live": "polite" }));
}

function ruleList(rules, say) {
  if (!rules.length) return el("p", { class: "meta", id: "rule-list", text: "No automations yet." });
  return el("ul", { id: "rule-list", class: "reply-list" }, rules.map((r) => el("li", { "data-rule": r.id },
    el("strong", { text: r.name }), " ",
    el("span", { class: "meta", text: r.plugin + (r.event === "schedule" ? " (on the schedule)" : " on " + r.event) + (r.enabled ? "" : " · off") }),
    r.plugin === "javascript" ? null : el("p", { class: "meta", text: JSON.stringify(r.config) }),
    r.last_fault ? el("p", { class: "error", text: "Last failed " + new Date(r.last_fault_at).toLocaleString() + ": " + r.last_fault }) : null,
    el("p", { class: "row" },
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("PATCH", "/automations/" + r.id, { enabled: !r.enabled });
          if (!res.ok) { say(problem(res)); return; }
          showAutomations((res.data.enabled ? "Switched on " : "Switched off ") + r.name + ".");
        }, text: r.enabled ? "Switch off" : "Switch on" }), " ",
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("DELETE", "/automations/" + r.id);
          if (!res.ok) { say(problem(res)); return; }
          showAutomations("Deleted " + r.name + ".");
        }, text: "Delete" })))));
}

function builtinForm(say) {
  const name = el("input", { id: "builtin-name", required: true });
  const plugin = el("select", { id: "builtin-plugin" },
    Object.entries(BUILTINS).map(([key, b]) => el("option", { value: key, text: b.label })));
  const fields = el("div", { id: "builtin-fields" });
  const draw = () => {
    fields.replaceChildren(...BUILTINS[plugin.value].fields.flatMap(([key, label, type]) => [
      el("label", { for: "builtin-" + key, text: label }),
      el("input", { id: "builtin-" + key, name: key, type, min: type === "number" ? "0" : null })]));
  };
  plugin.addEventListener("change", draw);
  draw();
  return el("form", { id: "new-builtin", onsubmit: async (e) => {
      e.preventDefault();
      const config = {};
      for (const input of fields.querySelectorAll("input")) {
        if (input.value === "") continue;
        config[input.name] = input.type === "number" ? Number(input.value) : input.value;
      }
      const res = await api("POST", "/automations", { name: name.value, plugin: plugin.value, config });
      if (!res.ok) { say(problem(res)); return; }
      showAutomations("Added " + res.data.name + ".");
    } },
    el("h3", { text: "New built-in rule" }),
    el("label", { for: "builtin-name", text: "Name (the activity shows it)" }), name,
    el("label", { for: "builtin-plugin", text: "Rule" }), plugin, fields,
    el("p", {}, el("button", { type: "submit", id: "builtin-add", text: "Add" })));
}

function scriptForm(say) {
  const name = el("input", { id: "script-name", required: true });
  const event = el("select", { id: "script-event" }, EVENTS.map((e) => el("option", { value: e, text: e })));
  const source = el("textarea", { id: "script-source", rows: 8, spellcheck: "false" });
  source.value = STARTER;
  event.addEventListener("change", () => { source.value = source.value.replace(/function \w+\(/, "function " + event.value + "("); });
  return el("form", { id: "new-script", onsubmit: async (e) => {
      e.preventDefault();
      const res = await api("POST", "/automations", { name: name.value, plugin: "javascript", event: event.value, config: { source: source.value } });
      if (!res.ok) { say(problem(res)); return; }
      showAutomations("Added " + res.data.name + ".");
    } },
    el("h3", { text: "New JavaScript rule" }),
    el("label", { for: "script-name", text: "Name" }), name,
    el("label", { for: "script-event", text: "Runs on" }), event,
    el("label", { for: "script-source", text: "Rule (a function named after the event, returning a list of actions)" }), source,
    el("p", {}, el("button", { type: "submit", text: "Add" })));
}

function webhookList(hooks, say) {
  if (!hooks.length) return el("p", { class: "meta", id: "webhook-list", text: "No webhooks yet." });
  return el("ul", { id: "webhook-list", class: "reply-list" }, hooks.map((h) => el("li", { "data-webhook": h.id },
    el("strong", { text: h.url }), " ", el("span", { class: "meta", text: h.events.join(", ") + (h.active ? "" : " · off") }),
    el("p", { class: "row" },
      el("button", { type: "button", class: "secondary", id: "deliveries-" + h.id, onclick: () => showDeliveries(h, say), text: "Deliveries" }), " ",
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("DELETE", "/webhooks/" + h.id);
          if (!res.ok) { say(problem(res)); return; }
          showAutomations("Deleted the webhook to " + h.url + ".");
        }, text: "Delete" })))));
}

function webhookForm(say) {
  const url = el("input", { id: "webhook-url", type: "url", required: true, placeholder: "https://example.com/hooks/threadline" });
  const boxes = EVENTS.map((e) => el("label", { class: "inline", for: "webhook-event-" + e },
    el("input", { type: "checkbox", id: "webhook-event-" + e, value: e, checked: e.startsWith("ticket") }), e));
  return el("form", { id: "new-webhook", onsubmit: async (e) => {
      e.preventDefault();
      const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      const res = await api("POST", "/webhooks", { url: url.value, events });
      if (!res.ok) { say(problem(res)); return; }
      await showAutomations("Added the webhook. Its signing secret, shown once: ");
      const secret = el("code", { id: "webhook-secret", text: res.data.secret });
      document.getElementById("automations-message").append(secret);
    } },
    el("h3", { text: "New webhook" }),
    el("label", { for: "webhook-url", text: "URL (deliveries are POSTed, signed)" }), url,
    el("fieldset", {}, el("legend", { text: "Events" }), ...boxes),
    el("p", {}, el("button", { type: "submit", id: "webhook-add", text: "Add" })));
}

async function showDeliveries(h, say) {
  const box = document.getElementById("deliveries");
  const res = await api("GET", "/webhooks/" + h.id + "/deliveries");
  if (!res.ok) { say(problem(res)); return; }
  const row = (d) => el("tr", { "data-delivery": d.id },
    el("td", { text: d.event }), el("td", { class: "state-" + d.state, text: d.state }),
    el("td", { text: d.last_status == null ? "–" : String(d.last_status) }), el("td", { text: String(d.attempts) }),
    el("td", { text: d.latency_ms == null ? "–" : d.latency_ms + " ms" }),
    el("td", { text: d.last_error || d.response_excerpt || "" }),
    el("td", {}, el("button", { type: "button", class: "secondary", onclick: async () => {
        const again = await api("POST", "/webhooks/" + h.id + "/deliveries/" + d.id + "/redeliver");
        if (!again.ok) { say(problem(again)); return; }
        say("Sending it again.");
        setTimeout(() => showDeliveries(h, say), 500);
      }, text: "Send again" })));
  box.replaceChildren(el("h3", { text: "Deliveries to " + h.url }),
    res.data.length ? el("table", { id: "delivery-table" },
      el("thead", {}, el("tr", {}, ["Event", "State", "Status", "Attempts", "Time", "Answer or error", ""].map((t) => el("th", { scope: "col", text: t })))),
      el("tbody", {}, res.data.map(row)))
      : el("p", { class: "meta", id: "delivery-table", text: "Nothing delivered yet." }));
}
