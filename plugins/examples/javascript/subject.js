// Subject: "[VIP] " for visitors from a customer domain, the order number
// when the visitor gives one, else the chat's own subject or the default.
const VIP_DOMAINS = ["bigcorp.example", "example.com"];

function subject(chat) {
  const email = chat.visitor.email || "";
  const vip = VIP_DOMAINS.some((d) => email.endsWith("@" + d));
  const first = chat.first_visitor_message;
  const order = first && /order #?(\d{3,})/i.exec(first.body);
  const base = order
    ? `Order ${order[1]}: ${chat.visitor.name}`
    : chat.subject || `Chat with ${chat.visitor.name}`;
  return (vip ? "[VIP] " : "") + base;
}
