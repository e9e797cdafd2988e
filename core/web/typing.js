// "… is typing", both ways. The side that types says so at once when it
// starts, again every REPEAT_MS while keys are pressed, and at once when it
// stops (sent, emptied, left the box); the side that reads forgets a notice
// after SHOWN_MS without a repeat. The server thins what it passes on too.

const REPEAT_MS = 2000;
const SHOWN_MS = 6000;

// The sending side. `send(active, internal)` tells the other side.
export function typist(send) {
  let since = 0;
  let shownAs = null; // null, or whether the notice went out as internal
  return {
    typed(text, internal = false) {
      if (!text.trim()) { this.stop(); return; }
      const now = Date.now();
      if (shownAs === internal && now - since < REPEAT_MS) return;
      since = now; shownAs = internal;
      send(true, internal);
    },
    stop() {
      // Not internal, so that everyone who was told "typing" hears it stop.
      if (shownAs !== null) send(false, false);
      shownAs = null;
    },
  };
}

// The reading side: who types where, until when; `render()` redraws the
// line, and runs again when a notice runs out.
export function typingBoard(render) {
  const where = {}; // { place: { who: { name, until } } }
  return {
    heard(place, who, name, active) {
      const inPlace = where[place] || (where[place] = {});
      if (active) inPlace[who] = { name, until: Date.now() + SHOWN_MS };
      else delete inPlace[who];
      render();
      setTimeout(render, SHOWN_MS + 100);
    },
    // A message ends its author's typing.
    clear(place) {
      if (where[place]) { where[place] = {}; render(); }
    },
    // "Alice is typing…", "Alice and Bob are typing…", or "".
    text(place) {
      const now = Date.now();
      const names = Object.values(where[place] || {}).filter((w) => w.until > now).map((w) => w.name);
      return names.length ? names.join(" and ") + (names.length > 1 ? " are typing…" : " is typing…") : "";
    },
  };
}
