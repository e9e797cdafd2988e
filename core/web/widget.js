// Embeds the Threadline chat on a page:
//   <script src="https://help.example.com/widget.js" data-key="wk_…" async></script>
// It adds a "Chat with us" button that opens the chat in a frame; Escape
// or the frame's Close button closes it. It works from <head> or <body>.
(function () {
  "use strict";
  var script = document.currentScript;
  var key = script && script.getAttribute("data-key");
  if (!key) return;
  var origin = new URL(script.src).origin;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat with us";
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:1em;bottom:1em;z-index:2147483000;padding:.7em 1.1em;border-radius:2em;" +
    "border:0;background:#0b57d0;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer";
  var frame = document.createElement("iframe");
  frame.title = "Chat with us";
  frame.src = origin + "/widget?key=" + encodeURIComponent(key);
  frame.hidden = true;
  frame.style.cssText = "position:fixed;right:1em;bottom:4.5em;z-index:2147483000;width:22em;height:32em;max-height:80vh;" +
    "border:1px solid #c9ccd1;border-radius:12px;background:#fff;box-shadow:0 6px 24px rgba(0,0,0,.2)";
  function show(open) {
    frame.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) frame.focus(); else button.focus();
  }
  button.addEventListener("click", function () { show(frame.hidden); });
  // Escape closes the chat, on this page or inside the frame (which says
  // so with a message, as does its Close button).
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !frame.hidden) show(false);
  });
  window.addEventListener("message", function (e) {
    // From the frame itself: its origin may be the widget's own
    // (--widget-origin), not this script's.
    if (e.source === frame.contentWindow && e.data && e.data.threadline === "close") show(false);
  });
  // Placed in <head>, the script runs before there is a body to add to.
  function place() {
    document.body.appendChild(frame);
    document.body.appendChild(button);
  }
  if (document.body) place(); else document.addEventListener("DOMContentLoaded", place);
})();
