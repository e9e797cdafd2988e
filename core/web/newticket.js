// The New ticket form: a ticket by hand for a requester by address. The
// workspace's rules assign and file it unless the agent picks; the body is
// mailed to the requester only when the agent ticks the box.
import { api } from "./api.js";
import { el, showPage } from "./dom.js";
import { state } from "./state.js";

const PRIORITIES = ["", "low", "normal", "high", "urgent"];

function field(id, label, input, hint) {
  return el("p", {}, el("label", { for: id, text: label }), input,
    hint ? el("small", { id: id + "-hint", text: hint }) : null);
}

export async function showNewTicket() {
  const page = showPage({ class: "ticket", id: "new-ticket", tabindex: "-1" },
    el("h2", { text: "New ticket" }), el("p", { role: "status", text: "Loading…" }));
  const agents = await api("GET", "/agents");
  if (!state.current || state.current.kind !== "new-ticket") return;
  const email = el("input", { id: "new-ticket-email", name: "requester_email", type: "email", required: true, autocomplete: "off" });
  const name = el("input", { id: "new-ticket-name", name: "requester_name", maxlength: "100", autocomplete: "off" });
  const subject = el("input", { id: "new-ticket-subject", name: "subject", required: true, maxlength: "255" });
  const body = el("textarea", { id: "new-ticket-body", name: "body", required: true, rows: "8" });
  const priority = el("select", { id: "new-ticket-priority", name: "priority" },
    PRIORITIES.map((p) => el("option", { value: p, text: p || "As the rules file it" })));
  const assignee = el("select", { id: "new-ticket-assignee", name: "assignee_id" },
    el("option", { value: "", text: "As the rules assign it" }),
    (agents.ok ? agents.data : []).filter((a) => a.active !== false).map((a) => el("option", { value: a.id, text: a.name })));
  const notify = el("input", { id: "new-ticket-notify", name: "notify", type: "checkbox" });
  const message = el("p", { role: "status", id: "new-ticket-message" });
  const inputs = { requester_email: email, requester_name: name, subject, body, priority, assignee_id: assignee };
  const form = el("form", { id: "new-ticket-form", novalidate: true },
    field("new-ticket-email", "Requester's e-mail", email),
    field("new-ticket-name", "Requester's name (if new)", name, "A known requester keeps their name."),
    field("new-ticket-subject", "Subject", subject),
    field("new-ticket-body", "Description", body),
    el("div", { class: "row" },
      field("new-ticket-priority", "Priority", priority),
      field("new-ticket-assignee", "Assignee", assignee)),
    el("p", {}, el("label", { class: "inline", for: "new-ticket-notify" }, notify, "Mail the description to the requester")),
    el("div", { class: "row" },
      el("button", { type: "submit", id: "new-ticket-create", text: "Create ticket" }),
      el("a", { href: "#/tickets", class: "secondary", text: "Cancel" })),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
    const req = { requester_email: email.value.trim(), subject: subject.value, body: body.value, notify: notify.checked };
    if (name.value.trim()) req.requester_name = name.value.trim();
    if (priority.value) req.priority = priority.value;
    if (assignee.value) req.assignee_id = assignee.value;
    message.textContent = "Creating…";
    const res = await api("POST", "/tickets", req);
    if (res.ok) { location.hash = "#/tickets/" + res.data.number; return; }
    const err = res.data && res.data.error;
    message.textContent = err ? err.message : "Could not create the ticket.";
    const bad = err && err.field && inputs[err.field];
    if (bad) { bad.setAttribute("aria-invalid", "true"); bad.setAttribute("aria-describedby", "new-ticket-message"); bad.focus(); }
  });
  page.replaceChildren(el("h2", { text: "New ticket" }), form);
  email.focus();
}
