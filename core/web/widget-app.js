// The visitor's chat: start a chat, talk live, rate it once it closes
// (conversion to a ticket included). The page is /widget?key=<widget key>;
// sites embed it with /widget.js. Strings from the server go in as text.
import { el } from "./dom.js";
import { live } from "./live.js";
import { typingBoard, typist } from "./typing.js";

const key = new URLSearchParams(location.search).get("key") || "";
const store = "threadline.chat." + key;
const $box = document.getElementById("widget");
const $offline = document.getElementById("offline");
let session = JSON.parse(localStorage.getItem(store) || "null"); // { chat, token }
let feed = null; // the live-updates socket

async function call(method, path, body, auth) {
  const res = await fetch("/api/v1/widget" + path, {
    method,
    headers: Object.assign(body ? { "Content-Type": "application/json" } : {}, auth ? { Authorization: "Bearer " + session.token } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  return { ok: res.ok, status: res.status, data: await res.json().catch(() => null) };
}

// What went wrong, in words for a visitor rather than the API's.
function forVisitors(res, fallback) {
  if (!res) return "You seem to be offline. Check your connection and try again.";
  const code = res.data && res.data.error && res.data.error.code;
  // The workspace's own limits (its plan), not the visitor's doing.
  if (code === "quota_exceeded") return "Chat is not available right now. Please try again later, or write to us by e-mail.";
  if (code === "workspace_suspended") return "Chat is unavailable.";
  if (res.status === 429) return "That was a lot of messages at once. Wait a moment, then try again.";
  if (res.status === 403) return "Chat is unavailable.";
  const field = res.data && res.data.error && res.data.error.field;
  const words = {
    visitor_email: "Please check your email address (for example name@example.com).",
    visitor_name: "Please tell us your name.",
    message: "Please write your message (up to 10,000 characters).",
    body: "Please write your message (up to 10,000 characters).",
    score: "Pick a score from 1 to 5.",
    comment: "Your comment is too long.",
  };
  return words[field] || fallback;
}

// Embedded by widget.js: a Close button and Escape ask the page to close
// the frame.
const embedded = window.parent !== window;
function closeFrame() {
  if (embedded) window.parent.postMessage({ threadline: "close" }, "*");
}
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeFrame(); });
function closeButton() {
  return embedded ? el("button", { type: "button", class: "secondary close", id: "widget-close", "aria-label": "Close the chat", onclick: closeFrame, text: "Close" }) : null;
}

// A visitor whose chat ended starts another as the same visitor: their
// token goes along, and their name and email are filled in.
function startForm() {
  const back = session && session.token ? session : null;
  const name = el("input", { id: "visitor-name", name: "name", required: true, autocomplete: "name", value: back ? back.name || "" : "" });
  const email = el("input", { id: "visitor-email", name: "email", type: "email", autocomplete: "email", value: back ? back.email || "" : "" });
  const text = el("textarea", { id: "visitor-first", name: "message", required: true, rows: 3 });
  const error = el("p", { class: "error", role: "alert", id: "start-error" });
  // Whether someone is here now; until the answer comes, nothing is promised.
  // Nobody here: the form also offers to leave a message, answered by e-mail.
  const presence = el("p", { id: "presence", class: "presence", role: "status" });
  const leave = el("button", { type: "button", class: "secondary", id: "leave-message", hidden: true,
    text: "Leave a message instead (we answer by email)",
    onclick: () => {
      if (!email.value.trim()) { error.textContent = "Please give your email: that is where we answer."; email.focus(); return; }
      if (!name.reportValidity() || !email.reportValidity() || !text.reportValidity()) return;
      leaveMessage(name.value, email.value, text.value, error);
    } });
  call("GET", "/" + encodeURIComponent(key) + "/presence").then((res) => {
    if (!res.ok) return;
    presence.textContent = res.data.available ? "We're here: someone will answer in a moment."
      : "No one is here right now. Leave a message with your email and we'll answer by email.";
    presence.classList.toggle("here", res.data.available);
    leave.hidden = res.data.available;
  }).catch(() => {});
  $box.replaceChildren(el("div", { class: "widget-head" }, el("h1", { text: "Chat with us" }), closeButton()),
    presence,
    el("form", { id: "start-form", onsubmit: async (e) => {
        e.preventDefault();
        const res = await call("POST", "/" + encodeURIComponent(key) + "/chats",
          { visitor_name: name.value, visitor_email: email.value || null, message: text.value }, Boolean(back)).catch(() => null);
        if (!res || !res.ok) { error.textContent = forVisitors(res, "The chat could not start. Please try again."); return; }
        session = { chat: res.data.chat_id, token: res.data.visitor_token, name: name.value, email: email.value };
        localStorage.setItem(store, JSON.stringify(session));
        connect();
        render();
      } },
      el("label", { for: "visitor-name", text: "Your name" }), name,
      el("label", { for: "visitor-email", text: "Email (optional)" }), email,
      el("label", { for: "visitor-first", text: "How can we help?" }), text,
      error,
      el("p", {}, el("button", { type: "submit", text: "Start chat" }), " ", leave)));
  name.focus();
}

// Nobody online: the message becomes a ticket, answered by e-mail.
async function leaveMessage(name, email, message, error) {
  const res = await call("POST", "/" + encodeURIComponent(key) + "/messages",
    { visitor_name: name, visitor_email: email, message }).catch(() => null);
  if (!res || !res.ok) { error.textContent = forVisitors(res, "Your message was not sent. Please try again."); return; }
  const ticket = res.data.ticket ? " (" + res.data.ticket + ")" : "";
  $box.replaceChildren(el("div", { class: "widget-head" }, el("h1", { text: "Message sent" }), closeButton()),
    el("p", { id: "message-left", class: "thanks", role: "status",
      text: "Thanks, we have your message" + ticket + ". We'll answer by email at " + email + "." }),
    el("p", {}, el("button", { type: "button", id: "new-chat", class: "secondary", onclick: startForm, text: "Write again" })));
}

async function render() {
  const res = await call("GET", "/chats/" + encodeURIComponent(session.chat), null, true);
  if (!res.ok) { localStorage.removeItem(store); session = null; startForm(); return; }
  const chat = res.data;
  const list = el("ol", { class: "messages", id: "visitor-messages", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" },
    chat.messages.map((m) => el("li", { class: m.kind },
      el("span", { class: "who", text: m.kind === "visitor" ? "You" : m.author_name }),
      m.created_at ? el("time", { datetime: m.created_at, text: new Date(m.created_at).toLocaleTimeString(undefined, { timeStyle: "short" }) }) : null,
      el("div", { class: "body", text: m.body }))));
  const head = el("div", { class: "widget-head", id: "widget-head" }, el("h1", { text: chat.subject || "Chat with us" }), closeButton());
  const old = document.getElementById("visitor-messages");
  if (chat.status === "open" && old && document.getElementById("visitor-composer")) {
    // A live update: the composer stays the very same node, so the
    // visitor's focus, caret and draft are untouched.
    document.getElementById("widget-head").replaceWith(head);
    old.replaceWith(list);
  } else {
    $box.replaceChildren(head, list, typingLine, chat.status === "open" ? composer() : closed(chat));
  }
  list.scrollTop = list.scrollHeight;
  // On a phone the page itself may scroll: keep the newest message and
  // the composer in view.
  const last = list.lastElementChild;
  if (last) last.scrollIntoView({ block: "nearest" });
}

// "Alice is typing…", kept across redraws; a message from them ends it.
const typingLine = el("p", { id: "typing", class: "typing", role: "status" });
const agentsTyping = typingBoard(() => {
  const text = agentsTyping.text("chat");
  if (typingLine.textContent !== text) typingLine.textContent = text;
});

// Tells the agents the visitor types.
const typing = typist((active) => { if (feed) feed.send({ kind: "typing", active }); });

function composer() {
  const body = el("textarea", { id: "visitor-body", rows: 2, required: true });
  body.addEventListener("input", () => typing.typed(body.value));
  body.addEventListener("blur", () => typing.stop());
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "composer", id: "visitor-composer", onsubmit: async (e) => {
      e.preventDefault();
      if (!body.value.trim()) return;
      const res = await call("POST", "/chats/" + encodeURIComponent(session.chat) + "/messages", { body: body.value }, true).catch(() => null);
      if (!res || !res.ok) { error.textContent = forVisitors(res, "Your message was not sent. Please try again."); return; }
      body.value = "";
      typing.stop();
      render();
    } },
    el("label", { for: "visitor-body", text: "Message" }), body, error,
    el("p", {}, el("button", { type: "submit", text: "Send" })));
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  return form;
}

function closed(chat) {
  const again = el("p", {}, el("button", { type: "button", id: "new-chat", class: "secondary", onclick: startForm, text: "Start a new chat" }));
  if (chat.rating) return el("div", {}, el("p", { class: "thanks", id: "rated", text: "Thanks for your rating (" + chat.rating.score + "/5)." }), again);
  if (!chat.rating_prompt) return el("div", {}, el("p", { text: "This chat has ended." }), again);
  const comment = el("textarea", { id: "rating-comment", rows: 2 });
  const error = el("p", { class: "error", role: "alert" });
  return el("div", {}, el("form", { id: "rating-form", onsubmit: async (e) => {
      e.preventDefault();
      const picked = document.querySelector('input[name="score"]:checked');
      if (!picked) { error.textContent = "Pick a score from 1 to 5."; return; }
      const res = await call("POST", "/chats/" + encodeURIComponent(session.chat) + "/rating",
        { score: Number(picked.value), comment: comment.value || null }, true);
      if (!res.ok) { error.textContent = forVisitors(res, "Your rating was not sent. Please try again."); return; }
      render();
    } },
    el("h2", { id: "rating-prompt", text: "How did we do?" }),
    el("fieldset", { class: "stars" }, el("legend", { text: "Your rating" }),
      [1, 2, 3, 4, 5].map((n) => el("label", { class: "inline" }, el("input", { type: "radio", name: "score", value: n }), String(n)))),
    el("label", { for: "rating-comment", text: "Anything to add? (optional)" }), comment, error,
    el("p", {}, el("button", { type: "submit", text: "Send rating" }))), again);
}

function connect() {
  if (feed) feed.stop();
  const sent = session.token;
  feed = live({
    path: "/api/v1/widget/chats/" + encodeURIComponent(session.chat) + "/events",
    hello: () => ({ token: sent }),
    onEvent: (e) => {
      if (e.kind === "ready") $offline.hidden = true;
      if (e.kind === "typing") {
        const t = e.typing;
        if (t) agentsTyping.heard("chat", t.agent_id, t.name, t.active);
        return;
      }
      if (e.kind === "message_created") agentsTyping.clear("chat");
      render();
    },
    onDown: (code) => {
      if (!session) return false;
      // The chat closed long ago and its token expired: start afresh.
      if (code === 4401 || code === 4404) { localStorage.removeItem(store); session = null; startForm(); return false; }
      $offline.hidden = false;
      return true;
    },
  });
}

if (session) { connect(); render(); } else startForm();
