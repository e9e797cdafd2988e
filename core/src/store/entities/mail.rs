//! The tables of mail, both ways: what the server sends (the outbox), what
//! it received, and the IMAP mailboxes it reads.

pub mod mail_outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "mail_outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        /// The public comment this mail carries (one mail per comment).
        pub comment_id: String,
        pub to_address: String,
        pub to_name: String,
        /// The display name of the sender (the workspace).
        pub from_name: String,
        pub subject: String,
        pub body: String,
        /// Kept across retries, so a receiver can tell a resend.
        pub message_id: String,
        /// `queued`, `sent` or `failed`.
        pub state: String,
        pub attempts: i32,
        /// When the sender may take it next; a claim pushes it past a lease.
        pub next_attempt_at: DateTimeUtc,
        pub last_error: Option<String>,
        pub sent_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        /// `reply` (a public comment), `invitation` or `password_reset`;
        /// an account mail's body is blanked once sent (it holds a token).
        pub kind: String,
        pub reply_to: Option<String>,
        /// The ticket it belongs to (none for an account mail).
        pub ticket_id: Option<String>,
        /// Or the chat: an answer mailed to a visitor who left.
        pub chat_id: Option<String>,
        /// The headers that thread it in the requester's mail client.
        pub in_reply_to: Option<String>,
        /// Message-IDs, space separated.
        pub thread_references: Option<String>,
    }
    no_relations!();
}

pub mod inbound_mail {
    use sea_orm::entity::prelude::*;

    /// A mail received for the workspace, once per Message-ID.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "inbound_mails")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub message_id: String,
        pub from_address: String,
        pub from_name: String,
        pub subject: String,
        pub received_at: DateTimeUtc,
        /// `ticket` (it opened one), `comment` (it joined one) or `ignored`.
        pub outcome: String,
        /// Why it was ignored, or how it was threaded.
        pub reason: Option<String>,
        pub ticket_id: Option<String>,
        pub comment_id: Option<String>,
        /// The chat it was added to, as the visitor's message.
        pub chat_id: Option<String>,
        /// The whole text, quoted history included (cut at a limit).
        pub original: String,
        /// JSON: `[{"name", "content_type", "size"}]`.
        pub attachments: String,
        pub size_bytes: i64,
        /// `http`, `imap` or `widget` (a message left while nobody was online).
        pub via: String,
    }
    no_relations!();
}

pub mod mailbox {
    use sea_orm::entity::prelude::*;

    /// A workspace's IMAP mailbox, polled by one node at a time.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "mailboxes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub host: String,
        pub port: i32,
        /// `tls`, `starttls` or `none`.
        pub security: String,
        pub username: String,
        /// Never returned by the API.
        pub password: String,
        pub folder: String,
        pub lease_owner: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub last_polled_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}
