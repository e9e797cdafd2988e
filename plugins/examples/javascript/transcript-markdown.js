// Transcript in Markdown: a heading, then one bullet a message with the
// time on the workspace's clock. Internal notes never reach a rule.
function transcript(chat, context) {
  const time = (ms) => {
    const t = context.local_time(ms);
    const two = (n) => String(n).padStart(2, "0");
    return `${t.year}-${two(t.month)}-${two(t.day)} ${two(t.hour)}:${two(t.minute)} ${t.abbreviation}`;
  };
  const lines = chat.messages
    .filter((m) => m.author !== "system")
    .map((m) => `- **${m.author_name}** (${time(m.sent_at)}): ${m.body.replace(/\n+/g, " ")}`);
  return [`## Chat with ${chat.visitor.name}`, "", ...lines].join("\n");
}
