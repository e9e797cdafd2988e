// The Team page: everyone sees who is in the workspace and who is
// available; admins also invite colleagues (and resend or revoke
// invitations), make someone an admin, and deactivate someone who left.
import { api } from "./api.js";
import { el, showPage, when } from "./dom.js";
import { enableDesktop, save, settings } from "./notify.js";
import { state } from "./state.js";

const problem = (res) => (res.data && res.data.error ? res.data.error.message : "Something went wrong (" + res.status + ").");

export async function showTeam(notice) {
  const page = showPage({ class: "ticket team", id: "team" }, el("h2", { text: "Team" }), el("p", { text: "Loading…" }));
  const [agents, invitations, blocks] = await Promise.all([api("GET", "/agents"), api("GET", "/agents/invitations"), api("GET", "/blocks")]);
  if (!state.current || state.current.kind !== "team" || !agents.ok) return;
  const admin = invitations.ok;
  const message = el("p", { id: "team-message", role: "status", text: notice || "" });
  const say = (text) => { message.textContent = text; };
  page.replaceChildren(
    el("h2", { text: "Team" }),
    message,
    el("table", { id: "team-agents", class: "team-table" },
      el("caption", { class: "visually-hidden", text: "Agents" }),
      el("thead", {}, el("tr", {}, ["Name", "Email", "Role", "Availability", admin ? "Account" : null]
        .filter(Boolean).map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, agents.data.map((a) => agentRow(a, admin, say)))),
    admin ? inviteForm(say) : null,
    admin ? pendingList(invitations.data, say) : null,
    admin && blocks.ok ? blockList(blocks.data, say) : null,
    notifications(say));
}

// This agent's own choice, in this browser: how a hidden console says a
// visitor is waiting.
function notifications(say) {
  const s = settings();
  const sound = el("input", { id: "notify-sound", type: "checkbox", checked: s.sound, onchange: (e) => save(Object.assign(settings(), { sound: e.target.checked })) });
  const desktop = el("input", { id: "notify-desktop", type: "checkbox", checked: s.desktop, onchange: async (e) => {
      if (!e.target.checked) { save(Object.assign(settings(), { desktop: false })); return; }
      const granted = await enableDesktop();
      e.target.checked = granted;
      if (!granted) say("This browser does not allow notifications from this page; its site settings can change that.");
    } });
  return el("section", { id: "notifications" },
    el("h3", { text: "Your notifications (this browser)" }),
    el("p", {}, el("label", { class: "inline", for: "notify-sound" }, sound, "A sound when a visitor is waiting and this tab is hidden")),
    el("p", {}, el("label", { class: "inline", for: "notify-desktop" }, desktop, "A desktop notification too")));
}

// Visitors blocked as spammers, and lifting a block.
function blockList(blocks, say) {
  return el("section", { id: "blocks" },
    el("h3", { text: "Blocked visitors" }),
    blocks.length ? el("ul", {}, blocks.map((b) => el("li", { "data-block": b.id },
      el("strong", { text: b.visitor_name }), (b.email ? " <" + b.email + ">" : "") + " · since " + when(b.created_at) + " ",
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("DELETE", "/blocks/" + b.id);
          if (!res.ok) { say(problem(res)); return; }
          showTeam(b.visitor_name + " may chat again.");
        }, text: "Unblock" }))))
      : el("p", { class: "meta", text: "Nobody is blocked." }));
}

function agentRow(a, admin, say) {
  const role = admin
    ? el("select", { "aria-label": "Role of " + a.name, "data-agent": a.id, class: "agent-role", disabled: !a.active,
        onchange: async (e) => {
          const res = await api("PATCH", "/agents/" + a.id, { role: e.target.value });
          if (!res.ok) { e.target.value = a.role; say(problem(res)); return; }
          showTeam(a.name + " is now " + (res.data.role === "admin" ? "an admin." : "an agent."));
        } },
      ["agent", "admin"].map((r) => el("option", { value: r, selected: r === a.role, text: r === "admin" ? "Admin" : "Agent" })))
    : a.role === "admin" ? "Admin" : "Agent";
  const account = admin
    ? el("button", { type: "button", class: "secondary agent-active", "data-agent": a.id,
        onclick: async () => {
          const res = await api("PATCH", "/agents/" + a.id, { active: !a.active });
          if (!res.ok) { say(problem(res)); return; }
          showTeam(a.name + (res.data.active ? " can sign in again." : " is deactivated and signed out everywhere."));
        }, text: a.active ? "Deactivate" : "Reactivate" })
    : null;
  return el("tr", { class: a.active ? "" : "inactive", "data-agent": a.id },
    el("td", { text: a.name + (a.id === state.me ? " (you)" : "") }),
    el("td", { text: a.email }),
    el("td", {}, role),
    el("td", { class: "availability " + a.availability, text: a.active ? a.availability : "deactivated" }),
    admin ? el("td", {}, account) : null);
}

function inviteForm(say) {
  const email = el("input", { id: "invite-email", type: "email", required: true, autocomplete: "off" });
  const name = el("input", { id: "invite-name", type: "text", autocomplete: "off" });
  const role = el("select", { id: "invite-role" }, el("option", { value: "agent", text: "Agent" }), el("option", { value: "admin", text: "Admin" }));
  return el("form", { id: "invite-form", class: "invite", onsubmit: async (e) => {
      e.preventDefault();
      const res = await api("POST", "/agents/invitations", { email: email.value.trim(), name: name.value.trim() || null, role: role.value });
      if (!res.ok) { say(problem(res)); email.focus(); return; }
      showTeam("Invitation sent to " + res.data.email + ".");
    } },
    el("h3", { text: "Invite a colleague" }),
    el("label", { for: "invite-email", text: "Email" }), email,
    el("label", { for: "invite-name", text: "Name (optional)" }), name,
    el("label", { for: "invite-role", text: "Role" }), role,
    el("p", {}, el("button", { type: "submit", id: "invite-send", text: "Send invitation" })));
}

function pendingList(invitations, say) {
  if (!invitations.length) return el("p", { class: "meta", id: "invitations", text: "No invitations pending." });
  return el("section", { id: "invitations" },
    el("h3", { text: "Invitations pending" }),
    el("ul", {}, invitations.map((i) => el("li", { "data-invitation": i.id },
      el("strong", { text: i.email }), " " + (i.role === "admin" ? "admin" : "agent") + " · "
        + (i.expired ? "expired " : "link valid until ") + when(i.expires_at) + " ",
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("POST", "/agents/invitations/" + i.id + "/resend");
          if (!res.ok) { say(problem(res)); return; }
          showTeam("Invitation sent again to " + i.email + ".");
        }, text: "Resend" }),
      " ",
      el("button", { type: "button", class: "secondary", onclick: async () => {
          const res = await api("DELETE", "/agents/invitations/" + i.id);
          if (!res.ok) { say(problem(res)); return; }
          showTeam("Invitation to " + i.email + " revoked.");
        }, text: "Revoke" })))));
}

// The header's "I am online / away / offline" choice.
export function availabilityPicker() {
  const picker = el("select", { id: "availability", "aria-label": "Your availability", onchange: async (e) => {
      const res = await api("PUT", "/agents/me/availability", { availability: e.target.value });
      if (res.ok) e.target.value = res.data.availability;
    } },
    ["online", "away", "offline"].map((v) => el("option", { value: v, text: v[0].toUpperCase() + v.slice(1) })));
  api("GET", "/agents").then((res) => {
    const me = res.ok && res.data.find((a) => a.id === state.me);
    if (me) picker.value = me.availability;
  }).catch(() => {});
  return picker;
}
