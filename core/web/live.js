// A live-updates websocket, for the console and the widget alike: the
// token in the first frame (never in the URL, where proxies log it), and
// after a drop a reconnect that waits a little longer each time (0.5 s up
// to 2.5 s) until the server says "ready" again.

const RETRY_STEP_MS = 500;
const RETRY_STEPS = 5;

// Opens `path` and keeps it open. `hello()` is the first frame; `onEvent`
// gets every event; `onDown(code)` hears of a drop and returns false to stop
// reconnecting (a close code that means the credentials are gone).
export function live({ path, hello, onEvent, onDown }) {
  let socket = null;
  let retry = 0;
  let stopped = false;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + path);
    socket.onopen = () => socket.send(JSON.stringify(hello()));
    socket.onmessage = (msg) => {
      const e = JSON.parse(msg.data);
      if (e.kind === "ready") retry = 0;
      onEvent(e);
    };
    socket.onclose = (e) => {
      if (stopped || onDown(e.code) === false) return;
      retry = Math.min(retry + 1, RETRY_STEPS);
      setTimeout(() => { if (!stopped) open(); }, RETRY_STEP_MS * retry);
    };
  };
  open();
  // Tests drop the connection as a network blip would, through this event
  // rather than a global.
  const drop = () => { if (socket) socket.close(); };
  window.addEventListener("threadline:drop-socket", drop);
  return {
    send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    },
    stop() {
      stopped = true;
      window.removeEventListener("threadline:drop-socket", drop);
      if (socket) { socket.onclose = null; socket.close(); }
    },
  };
}
