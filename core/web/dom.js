// Shared by the console and the widget: build DOM nodes. Text goes in as
// text (`text:` or string children), never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// A date and time in the reader's own words.
export function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

// The console's pages of their own (a ticket, the ticket list, the rules)
// take the main column: the chat's columns are hidden (kept, with any
// draft), and another such page is removed.
// The ids of those pages: one list, for showing one and leaving them all.
export const PAGES = ["ticket", "tickets", "new-ticket", "rules", "team", "replies", "reports", "contact", "automations"];

export function showPage(attrs, ...children) {
  for (const id of ["thread", "sidebar"]) { const n = document.getElementById(id); if (n) n.hidden = true; }
  for (const id of PAGES) { const n = document.getElementById(id); if (n) n.remove(); }
  document.getElementById("main").classList.remove("wide");
  const page = el("article", attrs, ...children);
  document.getElementById("main").append(page);
  return page;
}
