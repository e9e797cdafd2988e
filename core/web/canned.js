// Canned replies: typed "/" and a few letters of a title in a composer
// offers the workspace's replies, and Enter (or a click) puts the chosen
// one in, its variables filled in. Admins write them on the Replies page.
import { api } from "./api.js";
import { el, showPage } from "./dom.js";
import { state } from "./state.js";

let cache = null; // the workspace's replies, fetched once a page load

async function replies(fresh) {
  if (!cache || fresh) {
    const res = await api("GET", "/canned-replies").catch(() => null);
    cache = res && res.ok ? res.data : [];
  }
  return cache;
}

// `{visitor_name}` and the others, from what the composer is about.
function fill(body, vars) {
  return body.replace(/\{(visitor_name|agent_name|ticket_number)\}/g, (_, name) => vars[name] || "");
}

// Offers canned replies under `box` (a textarea) while its text is "/" and
// a search; `vars()` gives the values of the variables.
export function cannedPicker(box, vars) {
  const list = el("ul", { class: "canned", id: box.id + "-canned", role: "listbox", "aria-label": "Canned replies", hidden: true });
  let shown = [];
  let active = 0;
  const close = () => { list.hidden = true; shown = []; box.removeAttribute("aria-activedescendant"); };
  const pick = (reply) => {
    box.value = fill(reply.body, vars());
    close();
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const draw = () => {
    list.replaceChildren(...shown.map((r, i) => el("li", { role: "option", id: box.id + "-canned-" + i, "aria-selected": String(i === active),
      class: i === active ? "active" : "", onmousedown: (e) => { e.preventDefault(); pick(r); } },
      el("strong", { text: r.title }), " ", el("span", { class: "meta", text: r.body.slice(0, 80) }))));
    list.hidden = !shown.length;
    if (shown.length) box.setAttribute("aria-activedescendant", box.id + "-canned-" + active);
  };
  box.setAttribute("aria-controls", list.id);
  box.addEventListener("input", async () => {
    const m = box.value.match(/^\/(\S*)$/);
    if (!m) { close(); return; }
    const q = m[1].toLowerCase();
    const all = await replies();
    shown = all.filter((r) => r.title.toLowerCase().includes(q)).slice(0, 8);
    active = 0;
    draw();
  });
  // Before the composer's own keys (Enter sends a chat message).
  box.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (e.key === "Enter") {
      pick(shown[active]);
    } else if (e.key === "Escape") {
      close();
    } else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, { capture: true });
  box.addEventListener("blur", () => setTimeout(close, 100));
  return list;
}

const problem = (res) => (res.data && res.data.error ? res.data.error.message : "Something went wrong (" + res.status + ").");

// The Replies page: every agent reads them; admins add, change, delete.
export async function showReplies(notice) {
  const page = showPage({ class: "ticket replies", id: "replies" }, el("h2", { text: "Canned replies" }), el("p", { text: "Loading…" }));
  const [all, settings] = await Promise.all([replies(true), api("GET", "/settings")]);
  if (!state.current || state.current.kind !== "replies") return;
  const admin = settings.ok;
  const message = el("p", { id: "replies-message", role: "status", text: notice || "" });
  const say = (text) => { message.textContent = text; };
  const editor = (r) => {
    const title = el("input", { id: "reply-title-" + r.id, value: r.title });
    const body = el("textarea", { id: "reply-body-" + r.id, rows: 3 });
    body.value = r.body;
    return el("li", { "data-reply": r.id },
      el("label", { for: title.id, text: "Title" }), title,
      el("label", { for: body.id, text: "Reply" }), body,
      el("p", { class: "row" },
        el("button", { type: "button", class: "secondary", onclick: async () => {
            const res = await api("PATCH", "/canned-replies/" + r.id, { title: title.value, body: body.value });
            if (!res.ok) { say(problem(res)); return; }
            showReplies("Saved " + res.data.title + ".");
          }, text: "Save" }), " ",
        el("button", { type: "button", class: "secondary", onclick: async () => {
            const res = await api("DELETE", "/canned-replies/" + r.id);
            if (!res.ok) { say(problem(res)); return; }
            showReplies("Deleted " + r.title + ".");
          }, text: "Delete" })));
  };
  const title = el("input", { id: "new-reply-title", required: true });
  const body = el("textarea", { id: "new-reply-body", rows: 3, required: true });
  const add = el("form", { id: "new-reply", onsubmit: async (e) => {
      e.preventDefault();
      const res = await api("POST", "/canned-replies", { title: title.value, body: body.value });
      if (!res.ok) { say(problem(res)); return; }
      showReplies("Added " + res.data.title + ".");
    } },
    el("h3", { text: "New canned reply" }),
    el("label", { for: "new-reply-title", text: "Title (type / and a few of its letters in a composer)" }), title,
    el("label", { for: "new-reply-body", text: "Reply ({visitor_name}, {agent_name} and {ticket_number} are filled in)" }), body,
    el("p", {}, el("button", { type: "submit", text: "Add" })));
  page.replaceChildren(el("h2", { text: "Canned replies" }), message,
    all.length ? el("ul", { id: "reply-list", class: "reply-list" }, all.map((r) => admin ? editor(r)
      : el("li", {}, el("strong", { text: r.title }), el("p", { text: r.body }))))
      : el("p", { class: "meta", id: "reply-list", text: "No canned replies yet." }),
    admin ? add : null);
}
