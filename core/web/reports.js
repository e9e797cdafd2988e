// Reports for admins: a range of days, then a chart a report (an SVG of
// bars, with the figures as a table beside it for screen readers and
// exact values) and its CSV.
import { api } from "./api.js";
import { el, showPage } from "./dom.js";
import { state } from "./state.js";

const SVG = "http://www.w3.org/2000/svg";
const REPORTS = [
  { name: "conversations", title: "Conversations per day", value: "total", unit: "", series: ["chat", "agent"] },
  { name: "first-response", title: "First response time (average)", value: "average_seconds", unit: "time" },
  { name: "resolution", title: "Resolution time (average)", value: "average_seconds", unit: "time" },
  { name: "sla", title: "Targets met", value: "met_percent", unit: "%" },
  { name: "ratings", title: "Ratings per agent (average of 5)", value: "average", unit: "", key: "agent" },
];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// Seconds as words a lead reads at a glance.
function duration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

function shown(value, unit) {
  if (value === null || value === undefined) return "—";
  if (unit === "time") return duration(value);
  if (unit === "%") return value + "%";
  return String(value);
}

// Bars of one figure, a bar a row; the key under every few bars.
function chart(report, data) {
  const rows = data.rows;
  const width = 640, height = 180, pad = 24;
  const values = rows.map((r) => r[report.value] || 0);
  const max = Math.max(1, ...values);
  const step = (width - pad) / Math.max(1, rows.length);
  const bars = rows.map((r, i) => {
    const v = r[report.value] || 0;
    const h = Math.round((height - pad) * v / max);
    const label = r[data.columns[0]];
    return svg("rect", { x: pad + i * step + 1, y: height - pad - h, width: Math.max(1, step - 2), height: h, class: "bar" },
      svg("title", {}, label + ": " + shown(r[report.value], report.unit)));
  });
  const every = Math.max(1, Math.ceil(rows.length / 8));
  const keys = rows.map((r, i) => i % every ? null : svg("text", { x: pad + i * step, y: height - 6, class: "axis" },
    String(r[data.columns[0]]).replace(/^\d{4}-/, ""))).filter(Boolean);
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": report.title + ", " +
      "total " + shown(data.total[report.value], report.unit) },
    svg("text", { x: 0, y: 12, class: "axis" }, shown(max, report.unit)), ...bars, ...keys);
}

function table(data, unit) {
  const cell = (c, v) => (c.endsWith("seconds") ? duration(v) : v === null ? "—" : String(v));
  return el("table", { class: "receipt report-table" },
    el("thead", {}, el("tr", {}, data.columns.map((c) => el("th", { scope: "col", text: c.replace(/_/g, " ") })))),
    el("tbody", {},
      data.rows.map((r) => el("tr", {}, data.columns.map((c) => el("td", { text: cell(c, r[c]) })))),
      el("tr", { class: "total" }, el("th", { scope: "row", text: "total" }),
        data.columns.slice(1).map((c) => el("td", { text: cell(c, data.total[c]) })))));
}

async function download(name, from, to) {
  const res = await fetch(`/api/v1/reports/${name}?from=${from}&to=${to}&format=csv`,
    { headers: { Authorization: "Bearer " + state.token } });
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: `threadline-${name}-${from}-${to}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function showReports() {
  const page = showPage({ class: "ticket", id: "reports", tabindex: "-1" }, el("h2", { text: "Reports" }));
  document.getElementById("main").classList.add("wide");
  // Empty at first: the server's default (the last 30 days of the
  // workspace's own calendar) fills them in.
  const from = el("input", { id: "reports-from", type: "date" });
  const to = el("input", { id: "reports-to", type: "date" });
  const note = el("p", { role: "status", id: "reports-status" });
  const sections = el("div", { id: "report-sections" });
  const load = async () => {
    note.textContent = "Loading…";
    const q = new URLSearchParams();
    if (from.value) q.set("from", from.value);
    if (to.value) q.set("to", to.value);
    const answers = await Promise.all(REPORTS.map((r) => api("GET", `/reports/${r.name}?${q}`)));
    if (!state.current || state.current.kind !== "reports") return;
    const refused = answers.find((a) => !a.ok);
    if (refused) {
      note.textContent = refused.status === 403 ? "Reports are for workspace admins." : refused.data ? refused.data.error.message : "Could not load the reports.";
      sections.replaceChildren();
      return;
    }
    const range = answers[0].data;
    from.value = range.from;
    to.value = range.to;
    note.textContent = `From ${range.from} to ${range.to} (${range.time_zone}).`;
    sections.replaceChildren(...REPORTS.map((r, i) => {
      const data = answers[i].data;
      return el("section", { class: "report", id: "report-" + r.name, "aria-labelledby": "report-" + r.name + "-title" },
        el("div", { class: "row" },
          el("h3", { id: "report-" + r.name + "-title", text: r.title }),
          el("strong", { class: "report-total", text: shown(data.total[r.value], r.unit) }),
          el("button", { type: "button", class: "secondary", id: "report-" + r.name + "-csv",
            onclick: () => download(r.name, data.from, data.to), text: "Download CSV" })),
        data.rows.length ? chart(r, data) : el("p", { class: "empty", text: "No ratings in this range." }),
        el("details", {}, el("summary", { text: "Figures" }), table(data, r.unit)));
    }));
  };
  page.replaceChildren(
    el("h2", { text: "Reports" }),
    el("form", { class: "row filters", id: "reports-range", onsubmit: (e) => { e.preventDefault(); load(); } },
      el("label", { class: "inline", for: "reports-from", text: "From" }), from,
      el("label", { class: "inline", for: "reports-to", text: "To" }), to,
      el("button", { type: "submit", id: "reports-update", text: "Show" })),
    note, sections);
  load();
}
