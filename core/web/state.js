// The console's one state object: who is signed in, what the page shows,
// and what happens when the server ends the session. Every module reads
// and writes it here rather than keeping globals of its own.

export const state = {
  token: localStorage.getItem("threadline.token"),
  // This agent's id, to tell their own typing from others', and name (a
  // canned reply's {agent_name}).
  me: null,
  meName: "",
  // The chat, ticket or page shown: { kind, id }; a page that loads checks
  // it is still the one shown before it draws.
  current: null,
  // Which chats the inbox lists: "open" or "closed".
  listStatus: "open",
  // Whose chats: "all", "me" or "none"; and in what order: "activity"
  // (newest first) or "waiting" (the longest waiting visitor first).
  listView: "all",
  listSort: "activity",
  // Set by the console: the server no longer knows the session.
  onSignedOut: () => {},
};
