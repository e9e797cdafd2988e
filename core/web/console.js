// The agent console: sign in with workspace, email and password; chats (open, closed), a
// thread with a composer, the Convert to ticket panel, ticket pages. Live
// updates come over a websocket; every user-supplied string is put in the
// page as text, never as HTML. The rules page and the tickets pages are
// modules of their own (rules.js, tickets.js); this one routes to them.
import { linkToken, showInvitation, showResetComplete, showResetRequest } from "./account.js";
import { api } from "./api.js";
import { showAutomations } from "./automations.js";
import { cannedPicker, showReplies } from "./canned.js";
import { PAGES, el, when } from "./dom.js";
import { installShortcuts } from "./keys.js";
import { notify } from "./notify.js";
import { live } from "./live.js";
import { showRules } from "./rules.js";
import { state } from "./state.js";
import { availabilityPicker, showTeam } from "./team.js";
import { showNewTicket } from "./newticket.js";
import { presenceBoard } from "./presence.js";
import { showReports } from "./reports.js";
import { refreshTicket, showTicket, showTicketList } from "./tickets.js";
import { contactLink, showContact } from "./contacts.js";
import { typingBoard, typist } from "./typing.js";

const $app = document.getElementById("app");
const $offline = document.getElementById("offline");
let feed = null; // the live-updates socket

// ---- sign in ----------------------------------------------------------

function renderSignIn(message) {
  const field = (id, label, attrs) => [
    el("label", { for: id, text: label }),
    el("input", Object.assign({ id, name: id, required: true, "aria-describedby": "signin-error" }, attrs)),
  ];
  const error = el("p", { id: "signin-error", class: "error", role: "alert", text: message || "" });
  const button = el("button", { type: "submit", text: "Sign in" });
  const form = el("form", { class: "signin", onsubmit: async (e) => {
      e.preventDefault();
      const value = (id) => document.getElementById(id).value;
      button.disabled = true;
      error.textContent = "";
      try {
        const res = await fetch("/api/v1/auth/sign-in", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ workspace: value("workspace").trim(), email: value("email").trim(), password: value("password") }),
        });
        const data = await res.json().catch(() => null);
        if (!res.ok) {
          error.textContent = res.status === 401 ? "Wrong workspace, email or password."
            : (data && data.error ? data.error.message : "Cannot sign in right now (" + res.status + ").");
          document.getElementById("password").select();
          return;
        }
        localStorage.setItem("threadline.workspace", value("workspace").trim());
        signedIn(data);
      } catch (_) {
        error.textContent = "Cannot reach the server. Check your connection and try again.";
      } finally {
        button.disabled = false;
      }
    } },
    el("h1", { text: "Sign in to Threadline" }),
    ...field("workspace", "Workspace", { type: "text", autocomplete: "organization", autocapitalize: "none", spellcheck: "false",
      value: localStorage.getItem("threadline.workspace") || "" }),
    ...field("email", "Email", { type: "email", autocomplete: "username" }),
    ...field("password", "Password", { type: "password", autocomplete: "current-password" }),
    error, button);
  const main = el("main", { id: "main" }, form,
    el("p", { class: "signin-extra" }, el("button", { type: "button", class: "link", id: "forgot-password",
      onclick: () => showResetRequest(main, document.getElementById("workspace").value.trim(), () => renderSignIn()),
      text: "Forgot your password?" })));
  $app.replaceChildren(main);
  const first = ["workspace", "email"].map((id) => document.getElementById(id)).find((i) => !i.value);
  (first || document.getElementById("password")).focus();
}

// A session from a sign-in, an accepted invitation or a password reset.
function signedIn(session) {
  state.token = session.token;
  localStorage.setItem("threadline.token", state.token);
  start();
}

function forget() {
  localStorage.removeItem("threadline.token");
  state.token = null;
  if (feed) { feed.stop(); feed = null; }
  $offline.hidden = true;
}

// The server no longer knows the session (it expired, or was ended elsewhere).
function sessionEnded() {
  forget();
  renderSignIn("Your session has ended. Sign in again.");
}
state.onSignedOut = sessionEnded;

// Ends the session on the server too, so the token is worthless if it was copied.
async function signOut() {
  const ending = state.token;
  forget();
  renderSignIn();
  await fetch("/api/v1/auth/sign-out", { method: "POST", headers: { Authorization: "Bearer " + ending } }).catch(() => {});
}

// ---- layout -----------------------------------------------------------

async function start() {
  const session = await api("GET", "/auth/session").catch(() => null);
  if (!session || !session.ok) return;
  state.me = session.data.agent.id;
  state.meName = session.data.agent.name;
  const picker = availabilityPicker();
  $app.replaceChildren(
    // Past the header to whatever the page shows (a chat, a ticket, rules).
    el("a", { class: "skip-link", href: "#", id: "skip-link", onclick: (e) => {
        e.preventDefault();
        const target = PAGES.map((id) => document.getElementById(id)).find(Boolean)
          || document.getElementById("composer-body") || document.getElementById("chat-list");
        if (target) { if (target.tagName !== "TEXTAREA") target.setAttribute("tabindex", "-1"); target.focus(); }
      }, text: "Skip to content" }),
    el("header", { class: "top" },
      el("h1", { text: "Threadline" }),
      el("span", { id: "live", class: "status-dot", role: "status", text: "Connecting…" }),
      el("a", { href: "#/tickets", id: "tickets-link", class: "top-link", text: "Tickets" }),
      el("a", { href: "#/rules", id: "rules-link", class: "top-link", text: "Conversion rules" }),
      el("a", { href: "#/automations", id: "automations-link", class: "top-link", text: "Automations" }),
      el("a", { href: "#/team", id: "team-link", class: "top-link", text: "Team" }),
      el("a", { href: "#/replies", id: "replies-link", class: "top-link", text: "Replies" }),
      el("a", { href: "#/reports", id: "reports-link", class: "top-link", text: "Reports" }),
      picker,
      el("button", { type: "button", id: "shortcuts-button", "aria-label": "Keyboard shortcuts", onclick: () => document.dispatchEvent(new KeyboardEvent("keydown", { key: "?" })), text: "?" }),
      el("button", { type: "button", id: "sign-out", onclick: signOut, text: "Sign out" })),
    el("main", { class: "console", id: "main" },
      el("nav", { class: "chats", "aria-label": "Chats" },
        el("div", { role: "search" },
          el("label", { for: "chat-search", class: "visually-hidden", text: "Search chats" }),
          el("input", { id: "chat-search", type: "search", placeholder: "Search chats", value: listQuery, oninput: searchChats })),
        el("div", { class: "tabs", id: "tabs", role: "group", "aria-label": "Show chats" }),
        el("div", { class: "row views" },
          el("label", { for: "chat-view", class: "visually-hidden", text: "Whose chats" }),
          el("select", { id: "chat-view", onchange: (e) => { state.listView = e.target.value; listShown = 0; loadList(); } },
            [["all", "All"], ["me", "Mine"], ["none", "Unassigned"]].map(([v, t]) =>
              el("option", { value: v, selected: v === state.listView, text: t }))),
          el("label", { class: "inline", for: "chat-waiting-first" },
            el("input", { id: "chat-waiting-first", type: "checkbox", checked: state.listSort === "waiting",
              onchange: (e) => { state.listSort = e.target.checked ? "waiting" : "activity"; listShown = 0; loadList(); } }),
            "Longest waiting first")),
        el("ul", { id: "chat-list" })),
      el("section", { class: "thread", id: "thread", "aria-label": "Chat" }, el("p", { class: "empty", text: "Pick a chat." })),
      el("aside", { class: "sidebar", id: "sidebar", "aria-label": "Convert to ticket" })));
  renderTabs();
  connect();
  loadList();
  route();
}

function renderTabs() {
  document.getElementById("tabs").replaceChildren(tab("open", "Open"), tab("closed", "Closed"));
}

function tab(status, label) {
  return el("button", { type: "button", class: status === state.listStatus ? "" : "secondary", "aria-pressed": String(status === state.listStatus),
    onclick: () => { state.listStatus = status; listShown = 0; renderTabs(); loadList(); }, text: label });
}

window.addEventListener("hashchange", () => { if (state.token) route(); });

function route() {
  routeTo();
  const c = state.current;
  presenceNow.at(c && c.kind === "chats" ? { chat_id: c.id } : c && c.kind === "tickets" ? { ticket: c.id } : null);
}

function routeTo() {
  if (location.hash === "#/rules") { state.current = { kind: "rules", id: "" }; showRules(); return; }
  if (location.hash === "#/tickets") { state.current = { kind: "ticket-list", id: "" }; showTicketList(); return; }
  if (location.hash === "#/tickets/new") { state.current = { kind: "new-ticket", id: "" }; showNewTicket(); return; }
  if (location.hash === "#/team") { state.current = { kind: "team", id: "" }; showTeam(); return; }
  if (location.hash === "#/replies") { state.current = { kind: "replies", id: "" }; showReplies(); return; }
  if (location.hash === "#/automations") { state.current = { kind: "automations", id: "" }; showAutomations(); return; }
  if (location.hash === "#/reports") { state.current = { kind: "reports", id: "" }; showReports(); return; }
  const contact = location.hash.match(/^#\/contacts\/(.+)$/);
  if (contact) { state.current = { kind: "contact", id: decodeURIComponent(contact[1]) }; showContact(state.current.id); return; }
  const m = location.hash.match(/^#\/(chats|tickets)\/(.+)$/);
  if (!m) { state.current = null; return; }
  state.current = { kind: m[1], id: decodeURIComponent(m[2]) };
  if (state.current.kind === "chats") showChat(state.current.id, { fresh: true });
  else showTicket(state.current.id);
}

// The inbox: chats by last activity, a page at a time ("Show more"
// follows the API's next link), each with its newest message's first
// words; a chat whose visitor wrote since this agent last opened it is
// unread, and the page title counts them.
let listShown = 0;
let listNext = null;
let listQuery = "";
let listAsked = 0;
let searchTimer = null;

function searchChats(e) {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { listQuery = e.target.value.trim(); listShown = 0; loadList(); }, 250);
}
const seen = JSON.parse(localStorage.getItem("threadline.seen") || "{}");

function markSeen(chat) {
  seen[chat.id] = chat.updated_at || chat.closed_at || chat.created_at;
  try { localStorage.setItem("threadline.seen", JSON.stringify(seen)); } catch (_) { /* full: marks last this session */ }
}

// How long a visitor has waited, in a few words.
function waited(since) {
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(since)) / 60000));
  if (minutes < 1) return "waiting < 1 min";
  if (minutes < 60) return "waiting " + minutes + " min";
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? "waiting " + hours + " h" : "waiting " + Math.floor(hours / 24) + " days";
}

function chatItem(c) {
  const unread = c.waiting && seen[c.id] !== c.updated_at;
  const waiting = c.waiting && c.status === "open" ? el("span", { class: "waited", text: " · " + waited(c.updated_at) }) : null;
  return el("li", { class: unread ? "unread" : "", "data-unread": unread ? "true" : "false" },
    el("a", { href: "#/chats/" + c.id, "aria-current": state.current && state.current.id === c.id ? "page" : false },
      el("div", { class: "title" }, unread ? el("span", { class: "dot", "aria-label": "Unread" }) : null, c.subject || c.visitor.name),
      c.last_message ? el("div", { class: "preview-line", text: c.last_message }) : null,
      el("div", { class: "meta" }, c.visitor.name + " · " + when(c.updated_at) + (c.has_ticket ? " · ticket" : ""), waiting)));
}

// Chats whose visitor wrote last, as of the list's last load: a chat that
// starts waiting, or waits anew (a later message), rings while the tab is
// hidden. The first load of a page rings nothing.
let waitsSeen = null;

function ringForNewWaits(chats, whole) {
  const now = new Map(chats.filter((c) => c.waiting && c.status === "open").map((c) => [c.id + "@" + c.updated_at, c]));
  if (waitsSeen) {
    const fresh = [...now.keys()].filter((k) => !waitsSeen.has(k)).map((k) => now.get(k));
    if (fresh.length) {
      const who = fresh[0].visitor.name + (fresh.length > 1 ? " and " + (fresh.length - 1) + " more" : "");
      notify(who + " waiting for a reply", () => { location.hash = "#/chats/" + fresh[0].id; });
    }
  }
  waitsSeen = whole ? new Set(now.keys()) : new Set([...(waitsSeen || []), ...now.keys()]);
}

// The title counts the open chats waiting for a reply, all of them (not
// only those the list shows).
async function countWaiting() {
  const res = await api("GET", "/chats/counts").catch(() => null);
  if (res && res.ok) document.title = (res.data.waiting ? "(" + res.data.waiting + ") " : "") + "Threadline";
}

async function loadList(more) {
  const list = document.getElementById("chat-list");
  if (!list) return;
  // A live refresh reloads as many chats as are shown (the API's page
  // cap at most); "Show more" appends the next page.
  const limit = Math.min(200, Math.max(50, listShown));
  const path = more && listNext ? listNext.replace(/^\/api\/v1/, "")
    : "/chats?status=" + state.listStatus + "&limit=" + limit + (listQuery ? "&q=" + encodeURIComponent(listQuery) : "")
      + (state.listView !== "all" ? "&assignee=" + state.listView : "") + (state.listSort === "waiting" ? "&sort=waiting" : "");
  const asked = ++listAsked;
  const res = await api("GET", path).catch(() => null);
  // Only the newest answer is shown: a search typed fast asks several times.
  if (asked !== listAsked) return;
  if (res && res.status === 422 && !more) {
    list.replaceChildren(el("li", { class: "empty", text: res.data.error.message.replace(/^q must/, "A search must") }));
    return;
  }
  if (!res || !res.ok) return;
  ringForNewWaits(res.data, !more);
  const items = res.data.map(chatItem);
  if (more) {
    const button = document.getElementById("chats-more");
    if (button) button.parentElement.remove();
    list.append(...items);
  } else list.replaceChildren(...items);
  listShown = list.querySelectorAll("li:not(.more):not(.empty)").length;
  listNext = res.next;
  if (listNext) list.append(el("li", { class: "more" }, el("button", { type: "button", class: "secondary", id: "chats-more", onclick: () => loadList(true), text: "Show more" })));
  if (!listShown) list.replaceChildren(el("li", { class: "empty", text: listQuery ? "No " + state.listStatus + " chats match." : "No " + state.listStatus + " chats." }));
  countWaiting();
}

// ---- a chat -----------------------------------------------------------

async function showChat(id, { fresh }) {
  const thread = document.getElementById("thread");
  if (fresh && thread) {
    // Say at once what is coming, and take the previous chat (and its
    // composer) off screen while this one loads.
    restoreColumns();
    thread.dataset.chat = id;
    thread.replaceChildren(el("p", { class: "empty", role: "status", text: "Loading chat…" }));
    document.getElementById("sidebar").replaceChildren();
  }
  const { status, data: chat } = await api("GET", "/chats/" + encodeURIComponent(id)).catch(() => ({ status: 0, data: null }));
  if (!state.current || state.current.id !== id) return;
  restoreColumns();
  if (status === 0) { if (fresh) thread.replaceChildren(el("p", { class: "error", text: "Could not load this chat: check your connection." })); return; }
  if (status !== 200) { thread.replaceChildren(el("p", { class: "error", text: "This chat does not exist." })); return; }
  const header = el("header", { id: "thread-header" },
    el("h2", { text: (chat.subject || "Chat with " + chat.visitor.name) }),
    el("span", { id: "presence", class: "presence", role: "status", hidden: true }),
    chat.rating ? el("span", { id: "chat-rating", class: "rating", text: "Rated " + chat.rating.score + "/5" + (chat.rating.comment ? ": " + chat.rating.comment : "") }) : null,
    el("span", { id: "chat-status", text: chat.status === "open" ? "Open" : "Closed" }),
    contactLink(chat.visitor.id, chat.visitor.name),
    chat.status === "open" ? assigneePicker(chat) : null,
    chat.status === "open"
      ? el("button", { type: "button", class: "secondary", onclick: () => act(id, "close"), text: "Close chat" })
      : el("button", { type: "button", onclick: () => act(id, "reopen"), text: "Reopen" }),
    el("button", { type: "button", class: "secondary", id: "spam-chat", onclick: async () => {
        if (!confirm("Mark this chat as spam and block its visitor?")) return;
        const res = await api("POST", "/chats/" + encodeURIComponent(id) + "/spam", { block: true, block_email: true }).catch(() => null);
        // Left at once, not at the hash change: a live redraw of the chat
        // already under way must not come back over the notice.
        if (res && res.ok) { state.current = null; location.hash = ""; document.getElementById("thread").replaceChildren(el("p", { class: "empty", role: "status", text: "Marked as spam; the visitor is blocked." })); loadList(); }
      }, text: "Spam" }));
  const messages = el("ol", { class: "messages", id: "messages", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" }, chat.messages.map(message));
  const composerNow = document.getElementById("composer-form");
  const old = document.getElementById("messages");
  const atBottom = !old || old.scrollTop + old.clientHeight >= old.scrollHeight - 40;
  if (!fresh && thread.dataset.chat === id && composerNow && chat.status === "open" && old) {
    // A live update: the header and the messages change, the composer
    // stays the very same node, so focus, caret and draft are untouched.
    document.getElementById("thread-header").replaceWith(header);
    old.replaceWith(messages);
  } else {
    thread.dataset.chat = id;
    thread.replaceChildren(header, messages, el("p", { id: "typing", class: "typing", role: "status" }),
      chat.status === "open" ? composer(id, chat) : el("p", { class: "empty", text: "This chat is closed." }));
    renderTyping();
  }
  if (fresh || atBottom) messages.scrollTop = messages.scrollHeight;
  markSeen(chat);
  renderSidebar(chat, fresh);
  loadList();
}

// Who has the chat: take it, give it to a colleague, or let it go.
function assigneePicker(chat) {
  const picker = el("select", { id: "chat-assignee", "aria-label": "Assigned to", onchange: async (e) => {
      const res = await api("PATCH", "/chats/" + encodeURIComponent(chat.id), { assignee_id: e.target.value || null }).catch(() => null);
      if (!res || !res.ok) { e.target.value = chat.assignee ? chat.assignee.id : ""; return; }
      showChat(chat.id, { fresh: false });
    } },
    el("option", { value: "", text: "Nobody" }),
    chat.assignee ? el("option", { value: chat.assignee.id, selected: true, text: chat.assignee.name }) : null);
  // The colleagues to give it to, once known.
  api("GET", "/agents").then((res) => {
    if (!res.ok) return;
    for (const a of res.data) {
      if (!a.active || (chat.assignee && a.id === chat.assignee.id)) continue;
      picker.append(el("option", { value: a.id, text: a.id === state.me ? a.name + " (me)" : a.name }));
    }
  }).catch(() => {});
  const take = chat.assignee && chat.assignee.id === state.me ? null
    : el("button", { type: "button", class: "secondary", id: "take-chat", onclick: async () => {
        const res = await api("PATCH", "/chats/" + encodeURIComponent(chat.id), { assignee_id: state.me }).catch(() => null);
        if (res && res.ok) showChat(chat.id, { fresh: false });
      }, text: "Take" });
  return el("span", { class: "assignee" }, picker, take);
}

function message(m) {
  return el("li", { class: m.kind, "data-kind": m.kind },
    el("span", { class: "who", text: m.author_name }),
    m.kind === "internal_note" ? el("span", { class: "tag", text: "Internal note" }) : null,
    el("time", { datetime: m.created_at, text: when(m.created_at) }),
    el("div", { class: "body", text: m.body }));
}

function composer(chatId, chat) {
  const body = el("textarea", { id: "composer-body", name: "body", rows: 2, required: true });
  const canned = cannedPicker(body, () => ({ visitor_name: chat.visitor.name, agent_name: state.meName,
    ticket_number: chat.ticket ? chat.ticket.number : "" }));
  const note = el("input", { id: "composer-note", type: "checkbox" });
  const error = el("p", { class: "error", role: "alert", id: "composer-error" });
  const label = el("label", { for: "composer-body", text: "Message to the visitor" });
  const send = el("button", { type: "submit", id: "send", text: "Send" });
  const form = el("form", { class: "composer", id: "composer-form", onsubmit: async (e) => {
      e.preventDefault();
      if (!body.value.trim()) { error.textContent = "Write a message first."; return; }
      const res = await api("POST", "/chats/" + encodeURIComponent(chatId) + "/messages", { body: body.value, internal: note.checked })
        .catch(() => null);
      // The draft stays until the server has the message.
      if (!res) { error.textContent = "Not sent: you seem to be offline. Your message is kept; send it again when you are back."; return; }
      if (!res.ok) { error.textContent = res.data ? res.data.error.message : "Could not send."; return; }
      body.value = ""; note.checked = false; mode(); error.textContent = "";
      typing.stop();
      showChat(chatId, { fresh: false });
    } },
    label, body, canned, error,
    el("div", { class: "row" },
      el("label", { class: "inline", for: "composer-note" }, note, "Internal note (agents only)"),
      send));
  // An internal note looks like one before it is sent.
  const mode = () => {
    form.classList.toggle("internal", note.checked);
    label.textContent = note.checked ? "Internal note (agents only, never shown to the visitor)" : "Message to the visitor";
    send.textContent = note.checked ? "Add note" : "Send";
  };
  // The visitor sees "typing…" while the agent writes to them, never
  // while they write an internal note.
  const typing = typist((active, internal) => { if (feed) feed.send({ kind: "typing", chat_id: chatId, active, internal }); });
  body.addEventListener("input", () => typing.typed(body.value, note.checked));
  body.addEventListener("blur", () => typing.stop());
  note.addEventListener("change", () => { typing.stop(); typing.typed(body.value, note.checked); });
  note.addEventListener("change", mode);
  // Enter sends; Shift+Enter makes a new line.
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  return form;
}

async function act(chatId, what) {
  await api("POST", "/chats/" + encodeURIComponent(chatId) + "/" + what);
  showChat(chatId, { fresh: false });
}

// ---- the Convert to ticket panel --------------------------------------

let panelChat = null;
let panelRefresh = null;

async function renderSidebar(chat, fresh) {
  const side = document.getElementById("sidebar");
  if (chat.ticket) {
    panelChat = null;
    side.replaceChildren(
      el("h2", { text: "Ticket" }),
      el("a", { class: "ticket-link", id: "view-ticket", href: "#/tickets/" + chat.ticket.number, text: "View ticket " + chat.ticket.number + " →" }));
    return;
  }
  // Keep what the agent typed when the chat updates under them; only the
  // preview follows the new messages.
  if (!fresh && panelChat === chat.id && document.getElementById("convert-form")) { if (panelRefresh) panelRefresh(); return; }
  panelChat = chat.id;
  const { data: prefill } = await api("GET", "/chats/" + encodeURIComponent(chat.id) + "/conversion");
  const email = el("input", { id: "convert-email", name: "visitor_email", type: "email", required: true, autocomplete: "off", "aria-describedby": "convert-email-error" });
  const subject = el("input", { id: "convert-subject", name: "subject", type: "text", maxlength: 255 });
  const reason = el("textarea", { id: "convert-reason", name: "reason", rows: 2, maxlength: 10000 });
  email.value = (prefill && prefill.visitor_email) || "";
  subject.value = (prefill && prefill.subject) || "";
  const emailError = el("p", { id: "convert-email-error", class: "error", role: "alert" });
  const formError = el("p", { class: "error", role: "alert", id: "convert-error" });
  const preview = el("div", { class: "preview", id: "convert-preview", "aria-live": "polite" });
  const showError = (field, message) => {
    if (field === "visitor_email") { email.setAttribute("aria-invalid", "true"); emailError.textContent = message; email.focus(); }
    else formError.textContent = message;
  };
  const clearErrors = () => { email.removeAttribute("aria-invalid"); emailError.textContent = ""; formError.textContent = ""; };
  // The pre-filled subject is the subject rule's: sent back only when the
  // agent changed it, so the ticket's receipt names the rule, not the agent.
  const typedSubject = () => (subject.value === ((prefill && prefill.subject) || "") ? undefined : subject.value);
  const refreshPreview = async () => {
    if (!email.value.trim()) { preview.replaceChildren(el("p", { text: "Enter the visitor's email to see the ticket." })); return; }
    const res = await api("POST", "/chats/" + encodeURIComponent(chat.id) + "/conversion/preview", { visitor_email: email.value, subject: typedSubject() });
    if (!res.ok) { preview.replaceChildren(el("p", { text: res.data ? res.data.error.message : "No preview." })); return; }
    const p = res.data;
    preview.replaceChildren(
      el("h3", { text: "Will create" }),
      el("dl", {},
        el("dt", { text: "Subject" }), el("dd", { id: "preview-subject", text: p.subject }),
        el("dt", { text: "Assignee" }), el("dd", { id: "preview-assignee", text: p.assignee.name }),
        el("dt", { text: "Requester" }), el("dd", { text: p.requester.name + " <" + p.requester.email + ">" + (p.requester.exists ? " (existing)" : " (new)") })),
      el("h4", { text: "Transcript" }),
      el("pre", { id: "preview-transcript", text: p.description }));
  };
  panelRefresh = refreshPreview;
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(refreshPreview, 300); };
  email.addEventListener("input", () => { clearErrors(); later(); });
  subject.addEventListener("input", later);
  const form = el("form", { id: "convert-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      clearErrors();
      if (!email.value.trim()) { showError("visitor_email", "Enter the visitor's email address."); return; }
      const button = document.getElementById("convert-button");
      button.disabled = true;
      const res = await api("POST", "/chats/" + encodeURIComponent(chat.id) + "/conversion", { visitor_email: email.value, subject: typedSubject(), reason: reason.value.trim() || undefined });
      button.disabled = false;
      if (!res.ok) { const err = res.data && res.data.error; showError(err && err.field, err ? err.message : "The ticket could not be created."); return; }
      showChat(chat.id, { fresh: true });
    } },
    el("h2", { text: "Convert to ticket" }),
    el("label", { for: "convert-email", text: "Visitor email" }), email, emailError,
    el("label", { for: "convert-subject", text: "Subject" }), subject,
    el("label", { for: "convert-reason", text: "Why convert? (optional, an internal comment on the ticket)" }), reason,
    formError,
    el("p", {}, el("button", { type: "submit", id: "convert-button", text: "Create ticket from chat" })),
    preview);
  side.replaceChildren(form);
  refreshPreview();
}

function restoreColumns() {
  for (const id of PAGES) { const n = document.getElementById(id); if (n) n.remove(); }
  const main = document.getElementById("main");
  if (main) main.classList.remove("wide");
  for (const id of ["thread", "sidebar"]) { const n = document.getElementById(id); if (n) n.hidden = false; }
}

// ---- typing and live updates -----------------------------------------

// Who types in which chat: agents' notes show as such.
const typingNow = typingBoard(renderTyping);
// Which colleagues have this chat or ticket open.
const presenceNow = presenceBoard((frame) => { if (feed) feed.send(frame); }, () => state.me);
document.addEventListener("input", (e) => {
  if (e.target && (e.target.id === "composer-body" || e.target.id === "comment-body")) presenceNow.typed();
});

function onTyping(e) {
  const t = e.typing;
  if (!t || (t.by === "agent" && t.agent_id === state.me)) return;
  const who = t.by === "visitor" ? "visitor" : t.agent_id;
  const name = t.by === "visitor" ? "The visitor" : t.name + (e.internal ? " (internal note)" : "");
  typingNow.heard(e.chat_id, who, name, t.active);
}

function renderTyping() {
  const line = document.getElementById("typing");
  const thread = document.getElementById("thread");
  if (!line || !thread) return;
  const text = typingNow.text(thread.dataset.chat);
  if (line.textContent !== text) line.textContent = text;
}

function connect() {
  if (feed) feed.stop();
  const shown = () => document.getElementById("live");
  const showing = (chat) => state.current && state.current.kind === "chats" && (chat === undefined || chat === state.current.id);
  feed = live({
    path: "/api/v1/events",
    hello: () => ({ token: state.token }),
    onEvent: (e) => {
      if (e.kind === "ready") {
        $offline.hidden = true;
        if (shown()) shown().textContent = "Live";
        loadList();
        if (showing()) showChat(state.current.id, { fresh: false });
        presenceNow.again();
        return;
      }
      if (e.kind === "typing") { onTyping(e); return; }
      if (e.kind === "presence") { presenceNow.heard(e); return; }
      if (e.kind === "ticket_updated") {
        if (state.current && state.current.kind === "tickets" && state.current.id === e.ticket) refreshTicket(e.ticket);
        return;
      }
      if (e.kind === "message_created") typingNow.clear(e.chat_id);
      loadList();
      if (showing(e.kind === "resync" ? undefined : e.chat_id)) showChat(state.current.id, { fresh: false });
    },
    onDown: (code) => {
      if (!state.token) return false;
      if (code === 4401) { sessionEnded(); return false; }
      $offline.hidden = false;
      if (shown()) shown().textContent = "Offline";
      return true;
    },
  });
}

installShortcuts();

// Module scripts run once the page is parsed. A mailed link wins over a
// session this browser may hold (someone else's, on a shared machine).
const link = linkToken();
if (link) {
  forget();
  const main = el("main", { id: "main" });
  $app.replaceChildren(main);
  if (link.kind === "invitation") showInvitation(main, link.token, signedIn);
  else showResetComplete(main, link.token, signedIn);
} else if (state.token) start(); else renderSignIn();
