// Skills-based assignment: the online agent with a skill the visitor's
// words name and the fewest open tickets; else the converting agent.
function assign(chat, agent, candidates) {
  const said = chat.messages
    .filter((m) => m.author === "visitor")
    .map((m) => m.body.toLowerCase())
    .join(" ");
  const KEYWORDS = { billing: ["charged", "refund", "invoice"], sales: ["price", "quote"] };
  const wanted = Object.keys(KEYWORDS).filter((skill) =>
    said.includes(skill) || KEYWORDS[skill].some((word) => said.includes(word)));
  const able = candidates
    .filter((c) => c.online && c.skills.some((s) => wanted.includes(s)))
    .sort((a, b) => a.open_tickets - b.open_tickets);
  return able.length ? able[0].id : agent.id;
}
