// Tickets in the console: the list (status and assignee filters, a page at
// a time) and a ticket's page (status, priority and assignee controls, the
// reply and internal comment composer, comments with their e-mail state,
// the activity log, the description and the receipt).
import { api } from "./api.js";
import { cannedPicker } from "./canned.js";
import { contactLink } from "./contacts.js";
import { el, showPage, when } from "./dom.js";
import { state } from "./state.js";

const STATUSES = ["open", "in_progress", "pending", "solved", "closed"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const statusLabel = (s) => s.replace("_", " ");

function ticketPage(id, ...children) {
  return showPage({ class: "ticket", id, tabindex: "-1" }, ...children);
}

function select(id, values, selected, label) {
  return el("select", { id, name: id }, values.map(([value, text]) =>
    el("option", { value, selected: value === selected, text: text || label(value) })));
}

// ---- the list ---------------------------------------------------------

let ticketFilter = { q: "", status: "", assignee: "", sort: "number", breached: false };

export async function showTicketList() {
  const page = ticketPage("tickets", el("h2", { text: "Tickets" }), el("p", { role: "status", text: "Loading…" }));
  // The list takes the whole width: more rows, more columns.
  document.getElementById("main").classList.add("wide");
  const me = await api("GET", "/auth/session").catch(() => null);
  const myId = me && me.ok && me.data && me.data.agent ? me.data.agent.id : "";
  const status = select("ticket-filter-status", [["", "Any status"], ...STATUSES.map((s) => [s])], ticketFilter.status, statusLabel);
  const mine = el("input", { id: "ticket-filter-mine", type: "checkbox", checked: !!ticketFilter.assignee });
  const sort = select("ticket-sort", [["number", "Newest first"], ["due", "Soonest due first"]], ticketFilter.sort, (x) => x);
  const breached = el("input", { id: "ticket-filter-breached", type: "checkbox", checked: ticketFilter.breached });
  const search = el("input", { id: "ticket-search", type: "search", value: ticketFilter.q, placeholder: "Number, subject, requester, comment" });
  const rows = el("tbody", { id: "ticket-rows" });
  const more = el("button", { type: "button", class: "secondary", id: "tickets-more", hidden: true, text: "Show more" });
  const note = el("p", { role: "status", id: "tickets-status" });
  let next = null;
  let latest = 0;
  const load = async (path, append) => {
    note.textContent = "Loading…";
    const asked = ++latest;
    const res = await api("GET", path);
    // Only the newest request's answer is shown (a search typed fast
    // asks several times).
    if (!state.current || state.current.kind !== "ticket-list" || asked !== latest) return;
    if (!res.ok) { note.textContent = res.data ? res.data.error.message : "Could not load tickets."; return; }
    const found = res.data.map((t) => el("tr", {},
      el("td", {}, el("a", { href: "#/tickets/" + t.number, text: t.number })),
      el("td", { text: t.subject }),
      el("td", { text: statusLabel(t.status) }),
      el("td", { text: t.priority }),
      el("td", { text: t.assignee ? t.assignee.name : "nobody" }),
      el("td", { text: t.requester.name }),
      el("td", { class: t.sla.next_due_at && new Date(t.sla.next_due_at) < new Date() ? "overdue" : "" },
        t.sla.next_due_at ? el("time", { datetime: t.sla.next_due_at, text: when(t.sla.next_due_at) }) : "—"),
      el("td", {}, el("time", { datetime: t.updated_at, text: when(t.updated_at) }))));
    if (append) rows.append(...found); else rows.replaceChildren(...found);
    next = res.next;
    more.hidden = !next;
    const n = rows.children.length;
    note.textContent = n ? (n === 1 ? "1 ticket" : n + " tickets") + (next ? " shown; more below." : ".") : "No tickets match.";
  };
  const reload = () => {
    ticketFilter = { q: search.value.trim(), status: status.value, assignee: mine.checked ? myId : "", sort: sort.value, breached: breached.checked };
    const q = new URLSearchParams();
    if (ticketFilter.q) q.set("q", ticketFilter.q);
    if (ticketFilter.sort === "due") q.set("sort", "due");
    if (ticketFilter.breached) q.set("breached", "true");
    if (ticketFilter.status) q.set("status", ticketFilter.status);
    if (ticketFilter.assignee) q.set("assignee", ticketFilter.assignee);
    load("/tickets" + (q.toString() ? "?" + q : ""), false);
  };
  status.addEventListener("change", reload);
  mine.addEventListener("change", reload);
  sort.addEventListener("change", reload);
  breached.addEventListener("change", reload);
  let typed = null;
  search.addEventListener("input", () => { clearTimeout(typed); typed = setTimeout(reload, 250); });
  more.addEventListener("click", () => { if (next) load(next.replace(/^\/api\/v1/, ""), true); });
  page.replaceChildren(
    el("div", { class: "row" }, el("h2", { text: "Tickets" }),
      el("a", { href: "#/tickets/new", id: "new-ticket-link", class: "button", text: "New ticket" })),
    el("div", { class: "row filters", role: "search" },
      el("label", { class: "inline", for: "ticket-search", text: "Search" }), search,
      el("label", { class: "inline", for: "ticket-filter-status", text: "Status" }), status,
      el("label", { class: "inline", for: "ticket-filter-mine" }, mine, "Assigned to me"),
      el("label", { class: "inline", for: "ticket-sort", text: "Sort" }), sort,
      el("label", { class: "inline", for: "ticket-filter-breached" }, breached, "Overdue only")),
    el("table", { class: "receipt tickets" },
      el("thead", {}, el("tr", {}, ["Ticket", "Subject", "Status", "Priority", "Assignee", "Requester", "Due", "Updated"].map((h) => el("th", { scope: "col", text: h })))),
      rows),
    note, more);
  reload();
}

// ---- one ticket -------------------------------------------------------

export async function showTicket(number) {
  const page = ticketPage("ticket", el("p", { role: "status", text: "Loading ticket " + number + "…" }));
  const [{ status, data: t }, agents] = await Promise.all([
    api("GET", "/tickets/" + encodeURIComponent(number)), api("GET", "/agents")]);
  if (!state.current || state.current.id !== number) return;
  if (status !== 200) { page.replaceChildren(el("p", { class: "error", text: "No such ticket." })); return; }
  renderTicket(page, t, agents.ok ? agents.data : []);
}

// The ticket as the page shows it, to tell a live update from the
// agent's own unsaved choices.
let shown = null;

// Another agent (or the mail sender) changed the ticket this page shows:
// draw it again, keeping the composer's draft, focus and caret. If the
// agent has unsaved choices in the controls, the page says the ticket
// changed instead of replacing them.
export async function refreshTicket(number) {
  const page = document.getElementById("ticket");
  if (!page || !shown || shown.number !== number) return;
  const dirty = ["status", "priority"].some((f) => { const s = document.getElementById("ticket-" + f); return s && s.value !== shown[f]; })
    || ((document.getElementById("ticket-assignee") || {}).value || "") !== (shown.assignee ? shown.assignee.id : "")
    || ((document.getElementById("ticket-tags") || {}).value || "") !== shown.tags.join(", ")
    || ((document.getElementById("ticket-fields") || {}).value || "") !== fieldLines(shown.custom_fields);
  const [{ status, data: t }, agents] = await Promise.all([
    api("GET", "/tickets/" + encodeURIComponent(number)), api("GET", "/agents")]);
  if (status !== 200 || !state.current || state.current.id !== number || !document.getElementById("ticket")) return;
  // This page's own change (its answer is drawn already): nothing new.
  if (JSON.stringify(t) === JSON.stringify(shown)) return;
  if (dirty) {
    const message = document.getElementById("ticket-message");
    if (message) message.replaceChildren(el("strong", { text: "Someone changed this ticket meanwhile." }), " ",
      el("button", { type: "button", class: "secondary", id: "ticket-reload", onclick: () => showTicket(number), text: "Reload" }));
    return;
  }
  // The composer stays the very same node (its draft, caret and mode, and
  // keys typed meanwhile); only the rest is drawn again.
  const composer = document.getElementById("comment-form");
  const typing = composer && composer.contains(document.activeElement) ? document.activeElement : null;
  const said = (document.getElementById("ticket-message") || {}).textContent || "";
  renderTicket(page, t, agents.ok ? agents.data : []);
  document.getElementById("ticket-message").textContent = said;
  const fresh = document.getElementById("comment-form");
  if (composer && fresh) fresh.replaceWith(composer);
  if (typing) typing.focus();
}

function renderTicket(page, t, agents) {
  shown = t;
  const closed = t.status === "closed";
  const message = el("p", { id: "ticket-message", role: "status" });
  const statusSel = select("ticket-status", STATUSES.map((s) => [s]), t.status, statusLabel);
  const prioritySel = select("ticket-priority", PRIORITIES.map((p) => [p]), t.priority, (p) => p);
  // Deactivated agents take no tickets; one who holds this ticket is still shown.
  const assignable = agents.filter((a) => a.active || (t.assignee && a.id === t.assignee.id));
  const assigneeSel = select("ticket-assignee", [["", "Nobody"], ...assignable.map((a) => [a.id, a.name])], t.assignee ? t.assignee.id : "", (x) => x);
  const tagsIn = el("input", { id: "ticket-tags", value: t.tags.join(", "), disabled: closed });
  const fieldsIn = el("textarea", { id: "ticket-fields", rows: Math.max(2, Object.keys(t.custom_fields).length + 1), disabled: closed });
  fieldsIn.value = fieldLines(t.custom_fields);
  for (const s of [statusSel, prioritySel, assigneeSel]) s.disabled = closed;
  const controls = el("form", { id: "ticket-controls", class: "row controls", onsubmit: async (e) => {
      e.preventDefault();
      const change = {};
      if (statusSel.value !== t.status) change.status = statusSel.value;
      if (prioritySel.value !== t.priority) change.priority = prioritySel.value;
      if (assigneeSel.value !== (t.assignee ? t.assignee.id : "")) change.assignee_id = assigneeSel.value || null;
      const tags = tagsIn.value.split(/[\s,]+/).filter(Boolean);
      if (tags.join(",") !== t.tags.join(",")) change.tags = tags;
      if (fieldsIn.value.trim() !== fieldLines(t.custom_fields).trim()) {
        const parsed = parseFields(fieldsIn.value);
        if (!parsed) { message.textContent = "Write each custom field on a line of its own, as key: value."; return; }
        change.custom_fields = parsed;
      }
      if (!Object.keys(change).length) { message.textContent = "Nothing changed."; return; }
      // What this page saw: a field someone else changed since is not
      // overwritten (409), and the page says who changed what.
      change.seen_at = t.updated_at;
      const res = await api("PATCH", "/tickets/" + encodeURIComponent(t.number), change);
      if (res.status === 409) {
        message.replaceChildren(el("strong", { class: "error", text: res.data.error.message }), " ",
          el("button", { type: "button", class: "secondary", id: "ticket-reload", onclick: () => showTicket(t.number), text: "Reload" }));
        return;
      }
      if (!res.ok) { message.textContent = res.data ? res.data.error.message : "Could not save."; return; }
      renderTicket(page, res.data, agents);
      document.getElementById("ticket-message").textContent = "Saved.";
    } },
    el("label", { class: "inline", for: "ticket-status", text: "Status" }), statusSel,
    el("label", { class: "inline", for: "ticket-priority", text: "Priority" }), prioritySel,
    el("label", { class: "inline", for: "ticket-assignee", text: "Assignee" }), assigneeSel,
    el("div", { class: "fields" },
      el("label", { for: "ticket-tags", text: "Tags (separated by commas)" }), tagsIn,
      el("label", { for: "ticket-fields", text: "Custom fields (one a line, key: value)" }), fieldsIn),
    el("button", { type: "submit", id: "ticket-save", disabled: closed, text: "Save" }));
  // replaceChildren writes a null as the text "null": the parts a ticket
  // lacks (origin, summary, receipt) are left out instead.
  page.replaceChildren(...[
    el("h2", { id: "ticket-title", text: t.number + " · " + t.subject }),
    el("p", { id: "presence", class: "presence", role: "status", hidden: true }),
    el("dl", {},
      el("dt", { text: "Status" }), el("dd", { id: "ticket-status-text", text: statusLabel(t.status) }),
      el("dt", { text: "Assignee" }), el("dd", { id: "ticket-assignee-text", text: t.assignee ? t.assignee.name : "nobody" }),
      el("dt", { text: "Requester" }), el("dd", {}, contactLink(t.requester.id, t.requester.name), " <" + t.requester.email + ">"),
      el("dt", { text: "First response" }), el("dd", { text: t.first_response_at ? when(t.first_response_at) : "none yet" }),
      el("dt", { text: "Due" }), el("dd", { id: "ticket-due", class: missed(t.sla) ? "breached" : null, text: slaText(t.sla) }),
      el("dt", { text: "Created" }), el("dd", { text: when(t.created_at) })),
    t.origin ? el("p", {}, el("a", { id: "origin-link", href: "#/chats/" + t.origin.chat_id, text: "Originated from chat →" })) : null,
    closed ? el("p", { class: "meta", text: "This ticket is closed: it cannot change or take comments." }) : controls,
    message,
    el("h3", { text: "Conversation" }),
    el("ol", { class: "messages comments", id: "ticket-comments" }, t.comments.map((c) => commentItem(c, (t.received_mail || []).find((m) => m.comment_id === c.id)))),
    closed ? null : commentComposer(page, t, agents),
    t.summary ? el("section", {}, el("h3", { text: "Summary" }), el("p", { id: "ticket-summary", text: t.summary })) : null,
    el("h3", { text: "Description" }),
    el("pre", { id: "ticket-description", text: t.description }),
    attachments((t.received_mail || []).find((m) => m.outcome === "ticket")),
    el("h3", { text: "Activity" }),
    t.activity.length ? el("ol", { id: "ticket-activity", class: "activity" }, t.activity.map((a) => el("li", {},
      el("time", { datetime: a.at, text: when(a.at) }), a.field === "follows"
        ? " " + a.by.name + " wrote again after " + a.to + " was closed: this ticket follows it up"
        : " " + a.by.name + " changed " + a.field.replace("_", " ") + " from " +
          activityValue(a.field, a.from, agents) + " to " + activityValue(a.field, a.to, agents))))
      : el("p", { class: "meta", id: "ticket-activity", text: "No changes yet." }),
    t.receipt && t.receipt.length ? receipt(t.receipt) : null].filter(Boolean));
}

// Whether a service level target was missed: the line is then shown as
// an alarm, not as plain text.
function missed(sla) {
  return Boolean(sla.first_response_breached_at || sla.resolution_breached_at);
}

// The service level line: what is due next, and any target missed.
function slaText(sla) {
  const parts = [];
  parts.push(sla.next_due_at ? "next due " + when(sla.next_due_at) : "nothing due");
  if (sla.first_response_breached_at) parts.push("first response target missed (due " + when(sla.first_response_breached_at) + ")");
  if (sla.resolution_breached_at) parts.push("resolution target missed (due " + when(sla.resolution_breached_at) + ")");
  return parts.join(" · ");
}

// Custom fields as the page edits them: `key: value`, one a line.
function fieldLines(fields) {
  return Object.entries(fields).map(([k, v]) => k + ": " + v).join("\n");
}

function parseFields(text) {
  const out = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    if (at < 1) return null;
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function activityValue(field, value, agents) {
  if (field === "tags") { const tags = JSON.parse(value || "[]"); return tags.length ? tags.join(", ") : "none"; }
  if (field === "custom_fields") { const f = JSON.parse(value || "{}"); return Object.keys(f).length ? fieldLines(f).replace(/\n/g, "; ") : "none"; }
  if (value == null) return "nobody";
  if (field === "assignee") { const a = agents.find((x) => x.id === value); return a ? a.name : "a former agent"; }
  return statusLabel(value);
}

// The files a received mail carried, by name and size (not kept yet).
function attachments(mail) {
  if (!mail || !mail.attachments.length) return null;
  return el("p", { class: "meta attachments", text: "Attached to the mail (not kept): "
    + mail.attachments.map((a) => a.name + " (" + Math.max(1, Math.round(a.size / 1024)) + " KB)").join(", ") });
}

// One message of the ticket's thread: an agent's comment (a reply mailed
// to the requester, or internal) or the requester's mail, received.
function commentItem(c, mail) {
  const d = c.delivery;
  const state = { queued: d && d.attempts > 0 ? "not sent yet, retrying" : "queued", sent: "sent", failed: "failed" };
  const received = c.source === "email";
  const kind = c.internal ? "internal" : received ? "received" : "reply";
  return el("li", { class: c.internal ? "internal_note" : received ? "visitor" : "agent", "data-kind": kind },
    el("span", { class: "who", text: c.author.name }),
    c.internal ? el("span", { class: "tag", text: "Internal" }) : null,
    received ? el("span", { class: "tag", text: "By e-mail" }) : null,
    el("time", { datetime: c.created_at, text: when(c.created_at) }),
    el("div", { class: "body", text: c.body }),
    received ? attachments(mail) : null,
    d ? el("div", { class: "meta delivery", "data-state": d.state,
      text: "E-mail to " + d.to + ": " + (state[d.state] || d.state) + (d.sent_at ? " " + when(d.sent_at) : "") + (d.last_error && d.state !== "sent" ? " (" + d.last_error + ")" : "") }) : null);
}

// Whether each ticket's composer is on internal comments: it stays as the
// agent left it, across sending, redrawing and reloading (this tab only).
const internalMode = {
  get: (number) => sessionStorage.getItem("threadline.internal." + number) === "1",
  set: (number, on) => sessionStorage.setItem("threadline.internal." + number, on ? "1" : "0"),
};

function commentComposer(page, t, agents) {
  const body = el("textarea", { id: "comment-body", name: "body", rows: 3, "aria-describedby": "comment-hint" });
  const internal = el("input", { id: "comment-internal", type: "checkbox" });
  internal.checked = internalMode.get(t.number);
  const send = el("button", { type: "submit", id: "comment-send", text: "Send reply" });
  const error = el("p", { class: "error", role: "alert", id: "comment-error" });
  const label = el("label", { for: "comment-body", text: "Reply to " + t.requester.name + " (by e-mail)" });
  const notConfigured = t.email_delivery === "not_configured"
    ? el("p", { class: "meta", id: "email-not-configured", text: "E-mail is not configured on this server: replies are kept and go out once it is." }) : null;
  const form = el("form", { class: "composer", id: "comment-form" });
  const mode = () => {
    form.classList.toggle("internal", internal.checked);
    label.textContent = internal.checked ? "Internal comment (agents only)" : "Reply to " + t.requester.name + " (by e-mail)";
    send.textContent = internal.checked ? "Add internal comment" : "Send reply";
  };
  internal.addEventListener("change", () => { internalMode.set(t.number, internal.checked); mode(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!body.value.trim()) { error.textContent = "Write something first."; body.focus(); return; }
    send.disabled = true;
    const res = await api("POST", "/tickets/" + encodeURIComponent(t.number) + "/comments", { body: body.value, internal: internal.checked })
      .catch(() => ({ ok: false, data: null }));
    send.disabled = false;
    if (!res.ok) { error.textContent = res.data ? res.data.error.message : "Not sent: check your connection and try again."; return; }
    renderTicket(page, res.data, agents);
    const again = document.getElementById("comment-body");
    if (again) again.focus();
  });
  // A reply is an e-mail: Enter adds a line, and only Ctrl+Enter (or
  // Cmd+Enter) sends, so a greeting never goes out on its own.
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  const hint = el("p", { class: "meta", id: "comment-hint", text: "Enter adds a line; Ctrl+Enter sends; / and a few letters inserts a canned reply." });
  const canned = cannedPicker(body, () => ({ visitor_name: t.requester.name, agent_name: state.meName, ticket_number: t.number }));
  form.append(...[label, body, canned, hint, error, notConfigured,
    el("div", { class: "row" }, el("label", { class: "inline", for: "comment-internal" }, internal, "Internal comment"), send)]
    .filter(Boolean));
  mode();
  return form;
}

// What ran for each step of the conversion that made the ticket.
function receipt(entries) {
  const outcome = { ok: "ok", fell_back: "fell back to the built-in rule", native: "built-in rule", typed: "typed by the agent" };
  return el("section", { id: "ticket-receipt" },
    el("h3", { text: "How this ticket was made" }),
    el("table", { class: "receipt" },
      el("thead", {}, el("tr", {}, ["Step", "Plugin", "Outcome", "Fuel", "Time"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, entries.map((r) => el("tr", {},
        el("td", { text: r.hook }),
        el("td", { title: r.sha256 || "", text: r.plugin_name.replace(/^builtin:/, "") + (r.version ? " " + r.version : "") + (r.sha256 ? " · " + r.sha256.slice(0, 12) : "") }),
        el("td", { text: (outcome[r.outcome] || r.outcome) + (r.reason ? ": " + r.reason : "") }),
        el("td", { text: r.fuel == null ? "" : r.fuel.toLocaleString() }),
        el("td", { text: r.elapsed_ms == null ? "" : r.elapsed_ms.toFixed(2) + " ms" }))))));
}
