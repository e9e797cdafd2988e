//! Mail received for a workspace: what a raw RFC 5322 message says (parsed
//! by `mail-parser`: MIME parts, transfer encodings and charsets), whether
//! a machine sent it, which of our tickets it answers, and the reply
//! without the history it quotes.

use hmac::{Hmac, Mac};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::{EmailAddress, TicketNumber};

/// Where a ticket comment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentSource {
    /// Typed in the console by an agent.
    Agent,
    /// The requester's mail.
    Email,
}

impl CommentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Email => "email",
        }
    }
}

/// A received mail, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// In angle brackets, as our own are stored. A mail without one gets
    /// `<sha256 of its bytes@threadline.invalid>`, so the same bytes
    /// delivered twice are still imported once.
    pub message_id: String,
    /// The sender (`Reply-To` when the mail names one, else `From`); `None`
    /// when neither is a usable address.
    pub from: Option<EmailAddress>,
    pub from_name: String,
    /// Every address the mail was sent to (To, Cc, Delivered-To,
    /// X-Original-To), lowercased: a reply address may be any of them.
    pub recipients: Vec<String>,
    pub subject: String,
    /// The whole text: the plain part, or the HTML part made text.
    pub text: String,
    /// Message-IDs it answers: `In-Reply-To` first, then `References` from
    /// the newest; in angle brackets, at most [`MAX_THREAD_IDS`].
    pub thread_ids: Vec<String>,
    /// Why a machine sent it (an auto-reply, a bounce, bulk mail); such
    /// mail never opens a ticket nor gets an answer.
    pub automatic: Option<&'static str>,
    pub attachments: Vec<Attachment>,
}

/// A file a mail carried (listed; its bytes are not kept).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// References read at most: a long thread's oldest ones add nothing.
pub const MAX_THREAD_IDS: usize = 20;
/// A subject longer than this is cut.
const MAX_SUBJECT_CHARS: usize = 200;

/// Why a message could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the body is not an RFC 5322 message: {0}")]
pub struct NotAMessage(&'static str);

/// Reads `raw`.
pub fn parse(raw: &[u8]) -> Result<ParsedMail, NotAMessage> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(NotAMessage("no header could be read"))?;
    // The parser reads anything; a mail names at least its sender, its
    // recipient, its subject, its date or itself.
    let known = ["From", "To", "Subject", "Date", "Message-ID"];
    if !message
        .headers()
        .iter()
        .any(|h| known.iter().any(|k| h.name().eq_ignore_ascii_case(k)))
    {
        return Err(NotAMessage("it has none of From, To, Subject, Date and Message-ID"));
    }
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => bracketed(id),
        _ => format!("<{}@threadline.invalid>", hex(&Sha256::digest(raw))),
    };
    let sender = message
        .reply_to()
        .and_then(|a| a.first())
        .filter(|a| a.address().is_some())
        .or_else(|| message.from().and_then(|a| a.first()));
    let from = sender
        .and_then(|a| a.address())
        .and_then(|a| EmailAddress::parse("from", a).ok());
    let from_name = sender
        .and_then(|a| a.name())
        .map(|n| super::single_line("from", n, 200).unwrap_or_default())
        .unwrap_or_default();
    let mut recipients = Vec::new();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        recipients.extend(list.iter().filter_map(|a| a.address()).map(str::to_lowercase));
    }
    for header in ["Delivered-To", "X-Original-To"] {
        for value in message.header_values(header) {
            if let Some(text) = value.as_text() {
                recipients.push(text.trim().trim_matches(['<', '>']).to_lowercase());
            }
        }
    }
    let subject: String = message
        .subject()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SUBJECT_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    let text = message
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n"))
        .unwrap_or_default();
    let mut thread_ids = ids(message.in_reply_to());
    let mut references = ids(message.references());
    references.reverse();
    for id in references {
        if !thread_ids.contains(&id) {
            thread_ids.push(id);
        }
    }
    thread_ids.truncate(MAX_THREAD_IDS);
    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("unnamed").chars().take(200).collect(),
            content_type: part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size: part.contents().len() as u64,
        })
        .collect();
    Ok(ParsedMail {
        automatic: automatic(&message),
        message_id,
        from,
        from_name,
        recipients,
        subject,
        text,
        thread_ids,
        attachments,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bracketed(id: &str) -> String {
    format!("<{}>", id.trim().trim_matches(['<', '>']))
}

fn ids(value: &HeaderValue) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![bracketed(t)],
        HeaderValue::TextList(list) => list.iter().map(|t| bracketed(t)).collect(),
        _ => Vec::new(),
    }
}

/// Why a machine sent `message`, if one did (RFC 3834's `Auto-Submitted`,
/// the older `Precedence` and `X-Autoreply`, an empty return path or a
/// delivery report for bounces): answering it could start a loop.
fn automatic(message: &Message) -> Option<&'static str> {
    let text = |name: &str| {
        message
            .header(name)
            .and_then(|v| v.as_text())
            .map(|t| t.trim().to_ascii_lowercase())
    };
    if text("Auto-Submitted").is_some_and(|v| v != "no") {
        return Some("an automatic mail (Auto-Submitted)");
    }
    if text("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")) {
        return Some("bulk or automatic mail (Precedence)");
    }
    if text("X-Autoreply").is_some() || text("X-Autorespond").is_some() {
        return Some("an auto-reply (X-Autoreply)");
    }
    if message.header_raw("Return-Path").is_some_and(|v| v.trim() == "<>") {
        return Some("a bounce (empty Return-Path)");
    }
    let report = message
        .content_type()
        .is_some_and(|c| c.ctype().eq_ignore_ascii_case("multipart") && c.subtype() == Some("report"));
    if report {
        return Some("a delivery report");
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if from.starts_with("mailer-daemon@") || from.starts_with("postmaster@") {
        return Some("a bounce (from the mail system)");
    }
    None
}

/// The reply in `text`: what precedes the history it quotes (Gmail's
/// "On … wrote:", Outlook's "-----Original Message-----" or its
/// "From: … Sent: …" block, a run of `>` lines) and the signature (`-- `).
/// The whole text when nothing precedes them.
pub fn reply_part(text: &str) -> &str {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut offset = 0;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end_matches('\r');
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
        let quote_starts = t == "-- "
            || t.trim() == "--"
            || t.trim_start().starts_with('>')
            || t.trim().starts_with("-----Original Message-----")
            || t.trim().starts_with("________________________________")
            || (t.starts_with("On ") && (t.trim_end().ends_with("wrote:") || next.ends_with("wrote:")))
            || (t.starts_with("Le ") && t.trim_end().ends_with("a écrit :"))
            || (t.starts_with("Am ") && t.trim_end().ends_with("schrieb:"))
            || (t.starts_with("From: ") && lines.get(i + 1..i + 4).is_some_and(outlook_block));
        if quote_starts {
            let reply = text[..offset].trim_end();
            return if reply.trim().is_empty() { text.trim() } else { reply };
        }
        offset += line.len() + 1;
    }
    text.trim()
}

/// The lines after an Outlook `From:` line of a quoted header block.
fn outlook_block(lines: &[&str]) -> bool {
    lines.iter().any(|l| l.starts_with("Sent: ") || l.starts_with("Date: "))
        && lines
            .iter()
            .any(|l| l.starts_with("To: ") || l.starts_with("Subject: "))
}

/// The ticket number a subject names (`Re: [TK-1042] Refund`), the last
/// resort of threading.
pub fn number_in_subject(subject: &str) -> Option<TicketNumber> {
    let start = subject.find('[')?;
    let end = start + subject[start..].find(']')?;
    TicketNumber::parse(&subject[start + 1..end])
}

/// The Message-ID at the root of a ticket's mail thread: the
/// acknowledgement has it, and every later mail refers to it.
pub fn thread_root(ticket_id: &str) -> String {
    format!("<ticket-{ticket_id}@threadline.invalid>")
}

/// The ticket id a thread root names.
pub fn ticket_of_root(message_id: &str) -> Option<&str> {
    message_id
        .strip_prefix("<ticket-")?
        .strip_suffix("@threadline.invalid>")
}

/// The Message-ID at the root of a chat's mail (an answer mailed to a
/// visitor who left); each mail of it is `<chat-{id}.{n}@…>`.
pub fn chat_root(chat_id: &str) -> String {
    format!("<chat-{chat_id}@threadline.invalid>")
}

/// The chat a Message-ID of a chat's mail names.
pub fn chat_of_message_id(message_id: &str) -> Option<&str> {
    let inner = message_id
        .strip_prefix("<chat-")?
        .strip_suffix("@threadline.invalid>")?;
    Some(inner.split_once('.').map_or(inner, |(chat, _)| chat))
}

/// Hex digits of the mac in a reply address: 48 bits, so an address for
/// another ticket cannot be guessed (a sender is limited per hour).
const TAG_MAC_CHARS: usize = 12;

fn tag_mac(secret: &str, number: TicketNumber) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(format!("reply:{}", number.0).as_bytes());
    let bytes = mac.finalize().into_bytes();
    hex(&bytes)[..TAG_MAC_CHARS].to_owned()
}

/// The address a requester answers ticket `number` at: the workspace's
/// reply address with a tag, `support+tk-1042-<mac>@acme.example`. The
/// address itself when tagging would make its local part too long.
pub fn reply_address(base: &str, secret: &str, number: TicketNumber) -> String {
    let Some((local, domain)) = base.rsplit_once('@') else {
        return base.to_owned();
    };
    let tagged = format!("{local}+tk-{}-{}", number.0, tag_mac(secret, number));
    if tagged.len() > 64 {
        return base.to_owned();
    }
    format!("{tagged}@{domain}")
}

/// The ticket a reply address names, if its mac is right.
pub fn ticket_of_address(address: &str, secret: &str) -> Option<TicketNumber> {
    let address = address.to_ascii_lowercase();
    let local = address.rsplit_once('@')?.0;
    let tag = &local[local.rfind("+tk-")? + 4..];
    let (number, mac) = tag.split_once('-')?;
    let number = TicketNumber(number.parse().ok()?);
    let expected = tag_mac(secret, number);
    // Compared in constant time: the mac is a secret.
    let same =
        mac.len() == expected.len() && mac.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same.then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_cut_from_gmail_and_outlook_history() {
        let gmail =
            "Thanks, that works.\n\nOn Mon, Dec 7, 2026 at 10:02 AM Acme <support@acme.example> wrote:\n> Done.\n";
        assert_eq!(reply_part(gmail), "Thanks, that works.");
        let wrapped = "Yes.\n\nOn Mon, Dec 7, 2026 at 10:02 AM Acme Support <\nsupport@acme.example> wrote:\n> x";
        assert_eq!(reply_part(wrapped), "Yes.");
        let outlook =
            "Still broken.\r\n\r\nFrom: Acme <support@acme.example>\r\nSent: Monday\r\nTo: Ana\r\nSubject: x\r\n";
        assert_eq!(reply_part(outlook), "Still broken.");
        let original = "Ok\n-----Original Message-----\nFrom: a";
        assert_eq!(reply_part(original), "Ok");
        let signed = "See you.\n-- \nAna\nAcme Corp";
        assert_eq!(reply_part(signed), "See you.");
    }

    #[test]
    fn a_mail_that_is_all_quote_keeps_its_text() {
        assert_eq!(reply_part("> only a quote\n"), "> only a quote");
        assert_eq!(reply_part("Just text.\n"), "Just text.");
        // A line that merely starts with "From:" is not a quoted header.
        assert_eq!(reply_part("From: my phone\nit broke"), "From: my phone\nit broke");
    }

    #[test]
    fn the_subject_names_a_ticket() {
        assert_eq!(number_in_subject("Re: [TK-1042] Refund"), Some(TicketNumber(1042)));
        assert_eq!(number_in_subject("RE: AW: [tk-7] x"), Some(TicketNumber(7)));
        assert_eq!(number_in_subject("Refund TK-1042"), None);
        assert_eq!(number_in_subject("[urgent] help"), None);
    }

    #[test]
    fn a_reply_address_carries_its_ticket_and_cannot_be_forged() {
        let a = reply_address("support@acme.example", "s3cret", TicketNumber(1042));
        assert!(a.starts_with("support+tk-1042-") && a.ends_with("@acme.example"), "{a}");
        assert_eq!(ticket_of_address(&a, "s3cret"), Some(TicketNumber(1042)));
        assert_eq!(ticket_of_address(&a.to_uppercase(), "s3cret"), Some(TicketNumber(1042)));
        assert_eq!(ticket_of_address(&a, "other"), None);
        let forged = a.replace("tk-1042", "tk-1043");
        assert_eq!(ticket_of_address(&forged, "s3cret"), None);
        assert_eq!(ticket_of_address("support@acme.example", "s3cret"), None);
        let long = format!("{}@acme.example", "x".repeat(60));
        assert_eq!(reply_address(&long, "s", TicketNumber(1)), long);
    }

    #[test]
    fn a_chat_mail_names_its_chat() {
        assert_eq!(chat_of_message_id(&chat_root("01ab-cd")), Some("01ab-cd"));
        assert_eq!(
            chat_of_message_id("<chat-01ab-cd.7@threadline.invalid>"),
            Some("01ab-cd")
        );
        assert_eq!(chat_of_message_id(&thread_root("01ab")), None);
    }

    #[test]
    fn thread_roots_name_their_ticket() {
        let root = thread_root("0193-ab");
        assert_eq!(ticket_of_root(&root), Some("0193-ab"));
        assert_eq!(ticket_of_root("<c1@threadline.invalid>"), None);
    }

    #[test]
    fn machines_are_told_apart_from_people() {
        let auto = b"From: a@b.example\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway.\r\n";
        assert!(parse(auto).unwrap().automatic.is_some());
        let person = b"From: a@b.example\r\nAuto-Submitted: no\r\nSubject: Hi\r\n\r\nHello.\r\n";
        assert_eq!(parse(person).unwrap().automatic, None);
        let bounce = b"Return-Path: <>\r\nFrom: x@y.example\r\nSubject: Undelivered\r\n\r\nSorry.\r\n";
        assert!(parse(bounce).unwrap().automatic.is_some());
    }

    #[test]
    fn a_mail_without_message_id_is_named_by_its_bytes() {
        let raw = b"From: Ana <ana@b.example>\r\nSubject: Hi\r\n\r\nHello.\r\n";
        let (a, b) = (parse(raw).unwrap(), parse(raw).unwrap());
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.ends_with("@threadline.invalid>"));
        assert_eq!(a.from_name, "Ana");
        assert_eq!(a.from.unwrap().as_str(), "ana@b.example");
        assert!(parse(b"not a mail at all").is_err());
    }
}
