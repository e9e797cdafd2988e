// Who else is here: this console says which chat or ticket its agent has
// open (and whether they are writing in it) when that changes and every
// REPEAT_MS while it stays; it hears the same of colleagues and shows
// them on the page, forgetting one not heard from for SHOWN_MS (the
// server says when a colleague leaves or their console closes).

const REPEAT_MS = 20000;
const SHOWN_MS = 50000;
const TYPING_FOR_MS = 4000;

// `send(frame)` goes to the server; `me()` is this agent's id.
export function presenceBoard(send, me) {
  let place = null; // { chat_id } or { ticket }
  let typingUntil = 0;
  let saidTyping = false;
  let saidAt = 0;
  let typingTimer = null;
  const where = {}; // key -> { agent_id: { name, typing, until } }
  const keyOf = (p) => (p && p.chat_id ? "chat:" + p.chat_id : p && p.ticket ? "ticket:" + p.ticket : "");
  const say = (typing) => {
    saidTyping = typing;
    saidAt = Date.now();
    send(Object.assign({ kind: "presence", typing }, place || {}));
  };
  const render = () => {
    const line = document.getElementById("presence");
    if (!line) return;
    const now = Date.now();
    const here = Object.values(where[keyOf(place)] || {}).filter((w) => w.until > now);
    const text = here.length
      ? here.map((w) => w.name + (w.typing ? " (typing…)" : "")).join(", ") + (here.length > 1 ? " also have this open." : " also has this open.")
      : "";
    if (line.textContent !== text) line.textContent = text;
    line.hidden = !text;
  };
  setInterval(() => {
    if (place) say(Date.now() < typingUntil);
  }, REPEAT_MS);
  setInterval(render, 1000);
  return {
    // The page now shows `next` (null: neither a chat nor a ticket).
    at(next) {
      if (keyOf(next) === keyOf(place)) return;
      place = next;
      typingUntil = 0;
      say(false);
      render();
    },
    // Said again after a reconnect: the server forgot this socket.
    again() { if (place) say(Date.now() < typingUntil); },
    // A key pressed in a composer of this page.
    typed() {
      if (!place) return;
      typingUntil = Date.now() + TYPING_FOR_MS;
      if (!saidTyping || Date.now() - saidAt > REPEAT_MS / 2) say(true);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { if (saidTyping && Date.now() >= typingUntil) say(false); }, TYPING_FOR_MS + 100);
    },
    heard(e) {
      const p = e.presence;
      if (!p || p.agent_id === me()) return;
      const key = keyOf(e.chat_id ? { chat_id: e.chat_id } : { ticket: e.ticket });
      const inPlace = where[key] || (where[key] = {});
      const arrived = p.here && !(inPlace[p.agent_id] && inPlace[p.agent_id].until > Date.now());
      if (p.here) inPlace[p.agent_id] = { name: p.name, typing: p.typing, until: Date.now() + SHOWN_MS };
      else delete inPlace[p.agent_id];
      // A colleague just came to this page: say we are here too, or they
      // would not know until our next repeat.
      if (arrived && key === keyOf(place)) say(Date.now() < typingUntil);
      render();
    },
    render,
  };
}
