// Keyboard shortcuts of the console, and their "?" overlay. They act only
// when no field has the focus (typing stays typing), and never with Ctrl,
// Alt or Cmd held (the browser's own shortcuts stay the browser's).
import { el } from "./dom.js";

const SHORTCUTS = [
  ["j", "Next chat in the list"],
  ["k", "Previous chat in the list"],
  ["/", "Search chats"],
  ["r", "Reply to the chat"],
  ["n", "Write an internal note"],
  ["c", "Go to Convert to ticket"],
  ["a", "Take the chat (assign it to me)"],
  ["?", "Show or hide these shortcuts"],
];

function typing(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// Moves to the chat `step` rows from the one shown (the first when none).
function move(step) {
  const links = [...document.querySelectorAll("#chat-list li a")];
  if (!links.length) return;
  const at = links.findIndex((a) => a.getAttribute("aria-current") === "page");
  const next = links[at < 0 ? 0 : Math.min(links.length - 1, Math.max(0, at + step))];
  next.focus();
  location.hash = next.getAttribute("href");
}

function focus(id, then) {
  const node = document.getElementById(id);
  if (!node) return;
  if (then) then(node);
  node.focus();
}

function toggleHelp() {
  const open = document.getElementById("shortcuts");
  if (open) { open.remove(); return; }
  const dialog = el("div", { id: "shortcuts", class: "shortcuts", role: "dialog", "aria-modal": "false", "aria-labelledby": "shortcuts-title", tabindex: "-1" },
    el("h2", { id: "shortcuts-title", text: "Keyboard shortcuts" }),
    el("dl", {}, SHORTCUTS.flatMap(([key, what]) => [el("dt", {}, el("kbd", { text: key })), el("dd", { text: what })])),
    el("button", { type: "button", class: "secondary", onclick: toggleHelp, text: "Close" }));
  document.body.append(dialog);
  dialog.focus();
}

export function installShortcuts() {
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.getElementById("shortcuts")) { toggleHelp(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || !document.getElementById("chat-list")) return;
    const actions = {
      j: () => move(1),
      k: () => move(-1),
      "/": () => focus("chat-search"),
      r: () => focus("composer-body", () => { const n = document.getElementById("composer-note"); if (n && n.checked) n.click(); }),
      n: () => focus("composer-body", () => { const n = document.getElementById("composer-note"); if (n && !n.checked) n.click(); }),
      c: () => focus("convert-email"),
      a: () => { const take = document.getElementById("take-chat"); if (take) take.click(); },
      "?": toggleHelp,
    };
    const act = actions[e.key];
    if (!act) return;
    e.preventDefault();
    act();
  });
}
