//! The e-mail a public ticket comment becomes, and a new ticket's
//! acknowledgement.

use super::TicketNumber;

/// What the requester receives for one public comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyMail {
    pub subject: String,
    pub body: String,
    /// The sender's display name: the agent, from the workspace (plain
    /// words: parentheses would be a comment to mail readers).
    pub from_name: String,
    /// Stable across retries: `<comment id@threadline.invalid>`.
    pub message_id: String,
}

/// Subject lines longer than this are cut (RFC 5322 advises 78 characters
/// a line; folding handles the rest, but a very long subject helps nobody).
const MAX_SUBJECT_CHARS: usize = 200;

/// The mail for a reply on ticket `number`. The ticket's number leads the
/// subject so that the requester (and their mail client's threading) can
/// tell which request it answers.
pub fn reply(
    comment_id: &str,
    number: TicketNumber,
    ticket_subject: &str,
    body: &str,
    agent_name: &str,
    workspace_name: &str,
) -> ReplyMail {
    let mut subject = format!("[{number}] {ticket_subject}");
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject = subject.chars().take(MAX_SUBJECT_CHARS - 1).collect::<String>() + "…";
    }
    ReplyMail {
        subject,
        body: format!("{body}\n\n-- \n{agent_name}, {workspace_name}\nYour request {number}\n"),
        from_name: format!("{agent_name} from {workspace_name}"),
        // `.invalid` is reserved (RFC 2606): the id names no real host,
        // and needs none; it only has to be unique and stay the same.
        message_id: format!("<{comment_id}@threadline.invalid>"),
    }
}

/// An agent's answer in a chat whose visitor left, mailed to them: replying
/// to it brings them back to the chat (or its ticket).
pub fn chat_reply(
    body: &str,
    agent_name: &str,
    workspace_name: &str,
    chat_subject: Option<&str>,
) -> (String, String, String) {
    let about = chat_subject.filter(|s| !s.trim().is_empty()).unwrap_or("your chat");
    let mut subject = format!("Re: {about} ({workspace_name})");
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject = subject.chars().take(MAX_SUBJECT_CHARS - 1).collect::<String>() + "…";
    }
    let body = format!(
        "{body}\n\n-- \n{agent_name}, {workspace_name}\nYou had left the chat, so this answer came by e-mail. Reply to this mail to go on.\n"
    );
    (subject, body, format!("{agent_name} from {workspace_name}"))
}

/// The acknowledgement of a new ticket: its number, how to add to it, and
/// (for a converted chat) the chat's public transcript, so the requester
/// has what was said. Returns the subject and the body.
pub fn acknowledgement(
    number: TicketNumber,
    ticket_subject: &str,
    requester_name: &str,
    transcript: Option<&str>,
    workspace_name: &str,
) -> (String, String) {
    let mut subject = format!("[{number}] {ticket_subject}");
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject = subject.chars().take(MAX_SUBJECT_CHARS - 1).collect::<String>() + "…";
    }
    let greeting = if requester_name.trim().is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {},", requester_name.trim())
    };
    let mut body = format!(
        "{greeting}\n\nWe have your request \"{ticket_subject}\". Its number is {number}.\n\
         Reply to this mail to add to it; our answers will come here.\n"
    );
    if let Some(t) = transcript.filter(|t| !t.trim().is_empty()) {
        body.push_str("\nYour conversation so far:\n\n");
        body.push_str(t.trim_end());
        body.push('\n');
    }
    body.push_str(&format!("\n-- \n{workspace_name}\nYour request {number}\n"));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_names_the_ticket_and_carries_the_transcript() {
        let (subject, body) = acknowledgement(TicketNumber(1042), "Refund", "Ana", Some("[10:00] Ana: hi\n"), "Acme");
        assert_eq!(subject, "[TK-1042] Refund");
        assert!(
            body.starts_with("Hello Ana,\n\nWe have your request \"Refund\". Its number is TK-1042."),
            "{body}"
        );
        assert!(
            body.contains("Your conversation so far:\n\n[10:00] Ana: hi\n"),
            "{body}"
        );
        let (_, bare) = acknowledgement(TicketNumber(1042), "Refund", "", None, "Acme");
        assert!(bare.starts_with("Hello,\n") && !bare.contains("conversation"), "{bare}");
    }

    #[test]
    fn a_reply_names_the_ticket_and_signs_with_the_agent_and_workspace() {
        let m = reply("c1", TicketNumber(1042), "Refund", "Done.", "Ana", "Acme");
        assert_eq!(m.subject, "[TK-1042] Refund");
        assert!(m.body.starts_with("Done.\n\n-- \nAna, Acme\n"), "{}", m.body);
        assert_eq!(m.from_name, "Ana from Acme");
        assert_eq!(m.message_id, "<c1@threadline.invalid>");
    }

    #[test]
    fn a_long_subject_is_cut() {
        let m = reply("c1", TicketNumber(1), &"x".repeat(500), "b", "a", "w");
        assert_eq!(m.subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(m.subject.ends_with('…'));
    }
}
