// A contact's page: the person a chat or ticket is with, their earlier
// conversations, and for admins the export of everything held about them
// and their erasure (README "Personal data").
import { api } from "./api.js";
import { el, showPage, when } from "./dom.js";
import { state } from "./state.js";

// "3 earlier conversations": the link a ticket or chat shows to its
// contact, filled in once the contact is read. `current` is the
// conversation shown, which is not an earlier one.
export function contactLink(id, name) {
  const link = el("a", { id: "contact-link", href: "#/contacts/" + encodeURIComponent(id), text: name });
  const more = el("span", { id: "contact-earlier", class: "meta" });
  api("GET", "/contacts/" + encodeURIComponent(id)).then((res) => {
    if (!res.ok) return;
    const earlier = Math.max(0, res.data.conversations - 1);
    more.textContent = earlier ? " · " + earlier + (earlier === 1 ? " earlier conversation" : " earlier conversations") : "";
  }).catch(() => {});
  return el("span", {}, link, more);
}

export async function showContact(id) {
  const page = showPage({ id: "contact", class: "page" }, el("p", { role: "status", text: "Loading contact…" }));
  const res = await api("GET", "/contacts/" + encodeURIComponent(id));
  if (!state.current || state.current.id !== id) return;
  if (!res.ok) { page.replaceChildren(el("p", { class: "error", text: "No such contact." })); return; }
  renderContact(page, res.data);
}

function renderContact(page, c) {
  const message = el("p", { id: "contact-message", role: "status" });
  const admin = el("div", { class: "actions" },
    el("button", { type: "button", id: "contact-export", class: "secondary", onclick: () => exportContact(c, message), text: "Export their data" }),
    c.erased ? null : el("button", { type: "button", id: "contact-erase", class: "danger", onclick: () => eraseContact(page, c, message), text: "Erase contact" }));
  page.replaceChildren(...[
    el("h2", { id: "contact-name", text: c.name }),
    el("dl", {},
      el("dt", { text: "E-mail" }), el("dd", { id: "contact-email", text: c.email || "none given" }),
      el("dt", { text: "First seen" }), el("dd", { text: when(c.created_at) }),
      el("dt", { text: "Conversations" }), el("dd", { id: "contact-conversations", text: String(c.conversations) })),
    c.erased ? el("p", { class: "meta", id: "contact-erased", text: "This contact was erased: their name, address and words are gone." }) : null,
    admin, message,
    el("h3", { text: "Tickets" }),
    c.tickets.length ? el("ul", { id: "contact-tickets" }, c.tickets.map((t) => el("li", {},
      el("a", { href: "#/tickets/" + t.number, text: t.number + " · " + t.subject }), " · " + t.status.replace("_", " ") + " · " + when(t.created_at))))
      : el("p", { class: "meta", text: "No tickets." }),
    el("h3", { text: "Chats" }),
    c.chats.length ? el("ul", { id: "contact-chats" }, c.chats.map((ch) => el("li", {},
      el("a", { href: "#/chats/" + ch.id, text: ch.subject || "Chat" }), " · " + ch.status + " · " + when(ch.created_at) + ticketOf(c, ch))))
      : el("p", { class: "meta", text: "No chats." }),
  ].filter(Boolean));
}

// " · became TK-1042" for a chat converted to one of the listed tickets.
function ticketOf(c, chat) {
  const t = chat.ticket_id && c.tickets.find((x) => x.id === chat.ticket_id);
  return t ? " · became " + t.number : "";
}

// Downloads the export as a file: fetched with the session's token (a
// plain link could not send it), then handed to the browser.
async function exportContact(c, message) {
  const res = await fetch("/api/v1/contacts/" + encodeURIComponent(c.id) + "/export", { headers: { Authorization: "Bearer " + state.token } });
  if (!res.ok) { message.textContent = res.status === 403 ? "Only admins can export a contact's data." : "Could not export."; return; }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: "contact-" + c.id + ".json", id: "contact-download" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  message.textContent = "Exported.";
}

async function eraseContact(page, c, message) {
  if (!confirm("Erase " + c.name + "? Their name, address, messages and mail are removed for good; tickets keep their numbers and the agents' replies.")) return;
  const res = await api("DELETE", "/contacts/" + encodeURIComponent(c.id));
  if (!res.ok) { message.textContent = res.status === 403 ? "Only admins can erase a contact." : (res.data ? res.data.error.message : "Could not erase."); return; }
  const again = await api("GET", "/contacts/" + encodeURIComponent(c.id));
  if (again.ok) renderContact(page, again.data);
  document.getElementById("contact-message").textContent = "Erased.";
}
