// Tells an agent whose console tab is hidden that a visitor needs them: a
// short sound and a desktop notification (the browser's Notification API,
// asked for only when the agent turns it on), each the agent's own choice,
// kept in this browser. A notification names the visitor, never the
// message, which may be private.

const KEY = "threadline.notify";

export function settings() {
  const saved = JSON.parse(localStorage.getItem(KEY) || "null");
  return Object.assign({ sound: true, desktop: false }, saved);
}

export function save(next) {
  localStorage.setItem(KEY, JSON.stringify(next));
}

// Turns desktop notifications on, asking the browser first; false when
// the agent (or the browser) says no.
export async function enableDesktop() {
  if (!("Notification" in window)) return false;
  const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  save(Object.assign(settings(), { desktop: answer === "granted" }));
  return answer === "granted";
}

let audio = null;

// A short tone, made here rather than fetched (no asset to load).
function chime() {
  try {
    audio = audio || new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch (_) { /* no audio here: the notification still shows */ }
}

// `what` happened (a new chat, a visitor's message) while the tab was
// hidden: ring and show, as the agent chose.
export function notify(what, onOpen) {
  if (document.visibilityState !== "hidden") return;
  const s = settings();
  if (s.sound) chime();
  if (s.desktop && "Notification" in window && Notification.permission === "granted") {
    const shown = new Notification("Threadline", { body: what, tag: "threadline" });
    shown.onclick = () => { window.focus(); onOpen(); shown.close(); };
  }
}
