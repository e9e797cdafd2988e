// The rules page's live parts: a staged rollout of the forms' changes to a
// share of chats, with both pipelines' figures, promote and abandon; and
// the workspace's plugin log, read as it grows. Both poll while the page
// is open and stop when it is left.
import { api } from "./api.js";
import { el, when } from "./dom.js";

// How often the figures and the log are read again.
const POLL_MS = 1500;

// The rollout panel: `candidate()` gives the forms' pipeline, `reload()`
// redraws the page after the pipeline changed, `say(text)` reports.
export function rolloutPanel(candidate, reload, say) {
  const body = el("div", { id: "rollout-body", "aria-live": "polite" });
  const node = el("section", { id: "rollout", class: "rollout" }, el("h3", { text: "Staged rollout" }), body);
  const percent = el("input", { id: "rollout-percent", type: "number", min: "1", max: "99", value: "10" });
  const rate = el("input", { id: "rollout-max-fault-rate", type: "number", min: "0", max: "100", value: "10" });
  const idle = () => body.replaceChildren(
    el("p", { class: "meta", text: "Send a share of new conversions to the changes above, beside the pipeline in use. It is given up by itself if it faults too often." }),
    el("div", { class: "row actions" },
      el("label", { for: "rollout-percent", class: "inline", text: "Share of chats (%)" }), percent,
      el("label", { for: "rollout-max-fault-rate", class: "inline", text: "Give up past (% faults)" }), rate,
      el("button", { type: "button", id: "rollout-start", class: "secondary", text: "Start rollout", onclick: async () => {
          const res = await api("POST", "/pipeline/rollout", { pipeline: { hooks: candidate() },
            percent: Number(percent.value), max_fault_rate: Number(rate.value) / 100 });
          if (!res.ok) { say(res); return; }
          draw(res.data);
        } })));
  const figures = (id, name, f) => el("tr", { id: "rollout-" + id }, el("th", { scope: "row", text: name }),
    el("td", { text: String(f.calls) }), el("td", { text: String(f.faults) }),
    el("td", { text: (f.fault_rate * 100).toFixed(1) + "%" }));
  const draw = (r) => {
    if (!r) { idle(); return; }
    body.replaceChildren(
      el("p", { id: "rollout-state", text: r.percent + "% of chats run the candidate, since " + when(r.started_at) +
        " (started by " + r.started_by.name + "; given up past " + (r.max_fault_rate * 100).toFixed(0) +
        "% faults over " + r.min_calls + " runs)." }),
      el("table", { id: "rollout-figures" },
        el("thead", {}, el("tr", {}, ["Pipeline", "Runs", "Faults", "Fault rate"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, figures("current", "Current", r.current), figures("candidate", "Candidate", r.candidate),
          figures("recent", "Candidate, last " + r.min_calls, r.candidate_recent))),
      el("div", { class: "row actions" },
        el("button", { type: "button", id: "rollout-promote", text: "Promote to everyone", onclick: async () => {
            leaving = true;
            const res = await api("POST", "/pipeline/rollout/promote");
            if (!res.ok) { leaving = false; say(res); return; }
            await reload("Promoted: the candidate is the pipeline.");
          } }),
        el("button", { type: "button", id: "rollout-abandon", class: "secondary", text: "Abandon", onclick: async () => {
            leaving = true;
            const res = await api("DELETE", "/pipeline/rollout");
            if (!res.ok && res.status !== 404) { leaving = false; say(res); return; }
            await reload("Rollout abandoned.");
          } })));
  };
  let shown = null;
  // Set while this page promotes or abandons: the poll then leaves the
  // redraw and its message to the button, or a poll that saw the rollout
  // gone could redraw last and say "ended" over "abandoned".
  let leaving = false;
  const refresh = async () => {
    const res = await api("GET", "/pipeline/rollout");
    if (leaving) return true;
    const now = res.ok ? res.data : null;
    // Ended elsewhere (by hand, or by itself): the page's pipeline and
    // history changed too.
    if (shown && !now) { await reload("The rollout ended; see the history."); return false; }
    shown = now;
    if (now || !body.firstChild) draw(now);
    return true;
  };
  poll(node, refresh);
  return node;
}

// The workspace's plugin log, newest at the bottom, read every POLL_MS.
export function pluginLog() {
  // Focusable, so the keyboard can scroll it.
  const list = el("ol", { id: "plugin-log", class: "plugin-log", "aria-live": "polite", tabindex: "0", "aria-label": "Plugin log lines" });
  const node = el("section", { id: "plugin-log-section" },
    el("h3", { text: "Plugin log" }),
    el("p", { class: "meta", text: "What the workspace's plugins write to their log, their requests and each call's outcome: the newest 1,000 lines." }),
    list);
  let since = null;
  const line = (l) => {
    const head = new Date(l.at).toLocaleTimeString() + " " + l.plugin_name + " · " + l.hook + " ";
    if (l.level === "call") {
      const cost = [l.fuel !== null ? (l.fuel / 1e6).toFixed(1) + " M fuel" : null,
        l.elapsed_ms !== null ? l.elapsed_ms.toFixed(1) + " ms" : null, l.chat_id ? "chat " + l.chat_id.slice(-8) : null]
        .filter(Boolean).join(", ");
      return el("li", { class: "call " + (l.outcome === "ok" ? "ok" : "fault") },
        head, el("strong", { text: l.outcome === "ok" ? "ok" : l.outcome + ": " + l.message }), cost ? " (" + cost + ")" : "");
    }
    return el("li", { class: "line " + l.level }, head, el("code", { text: l.level + " " + l.message }));
  };
  const refresh = async () => {
    const res = await api("GET", "/plugins/logs" + (since === null ? "" : "?since=" + since));
    if (!res.ok) return true;
    for (const l of res.data.lines) list.append(line(l));
    if (res.data.lines.length) since = res.data.lines[res.data.lines.length - 1].id;
    while (list.childElementCount > res.data.kept) list.firstChild.remove();
    return true;
  };
  poll(node, refresh);
  return node;
}

// Runs `refresh` once the page shows `node`, then every POLL_MS while it
// does (and `refresh` does not say to stop).
function poll(node, refresh) {
  const tick = async () => {
    if (!node.isConnected) return;
    let again = true;
    try { again = await refresh(); } catch { again = true; }
    if (again && node.isConnected) setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, 0);
}
