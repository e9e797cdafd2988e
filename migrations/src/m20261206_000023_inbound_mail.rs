//! E-mail both ways.
//! - `tenants.inbound_key`: the secret in the inbound URL a mail relay
//!   posts a workspace's mail to; `tenants.mail_secret`: the key that signs
//!   the reply addresses of its tickets (`support+tk-1042-<mac>@…`);
//!   `tenants.acknowledge_by_mail`: mail requesters their ticket's number
//!   when a ticket is made for them.
//! - `inbound_mails`: every message received, once per Message-ID, with
//!   what became of it (a ticket, a comment, or why nothing).
//! - `mailboxes`: a workspace's IMAP mailbox to poll (its password is
//!   never returned by the API), and the lease of the node polling it.
//! - `chats.visitor_seen_at`: when the visitor's socket was last open (or
//!   they last wrote): an agent's answer to a visitor gone for a while is
//!   mailed to them; `mail_outbox.chat_id` and `inbound_mails.chat_id`: the
//!   chat such a mail, and its answer, belong to.
//! - `ticket_comments.source`: `agent` (typed in the console) or `email`
//!   (a requester's mail).
//! - `mail_outbox.ticket_id`, `in_reply_to`, `thread_references`: the
//!   ticket a mail belongs to, and the headers that thread it in the
//!   requester's mail client; an index finds a mail by its Message-ID when
//!   the answer comes back.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    InboundKey,
    MailSecret,
    AcknowledgeByMail,
}

#[derive(DeriveIden)]
enum InboundMails {
    Table,
    Id,
    TenantId,
    MessageId,
    FromAddress,
    FromName,
    Subject,
    ReceivedAt,
    /// What became of it: `ticket`, `comment` or `ignored` (see `Reason`).
    Outcome,
    Reason,
    TicketId,
    CommentId,
    ChatId,
    /// The whole text of the mail (the comment holds it without the quoted
    /// history), cut at a size limit.
    Original,
    /// JSON: `[{"name", "content_type", "size"}]`.
    Attachments,
    SizeBytes,
    /// `http`, `imap` or `widget` (a message left while nobody was online).
    Via,
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    TenantId,
    Host,
    Port,
    /// `tls`, `starttls` or `none`.
    Security,
    Username,
    Password,
    Folder,
    /// The node polling it, until `LeaseUntil`.
    LeaseOwner,
    LeaseUntil,
    LastPolledAt,
    LastError,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    VisitorSeenAt,
}

#[derive(DeriveIden)]
enum TicketComments {
    Table,
    Source,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    TenantId,
    MessageId,
    ChatId,
    TicketId,
    InReplyTo,
    ThreadReferences,
}

/// Random keys for the workspaces that exist, in each database's words.
const KEYS_POSTGRES: &str = "UPDATE tenants SET
    inbound_key = 'tli_' || md5(random()::text || id || clock_timestamp()::text),
    mail_secret = md5(random()::text || clock_timestamp()::text || id) || md5(id || random()::text)";
const KEYS_SQLITE: &str = "UPDATE tenants SET
    inbound_key = 'tli_' || lower(hex(randomblob(16))),
    mail_secret = lower(hex(randomblob(32)))";

/// The ticket of every reply already in the outbox.
const OUTBOX_TICKETS: &str = "UPDATE mail_outbox SET ticket_id =
    (SELECT c.ticket_id FROM ticket_comments c WHERE c.id = mail_outbox.comment_id)
    WHERE kind = 'reply'";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(Tenants::InboundKey).string().null().to_owned(),
            ColumnDef::new(Tenants::MailSecret).string().null().to_owned(),
            ColumnDef::new(Tenants::AcknowledgeByMail)
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
        ] {
            m.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned())
                .await?;
        }
        let keys = match m.get_database_backend() {
            DbBackend::Postgres => KEYS_POSTGRES,
            _ => KEYS_SQLITE,
        };
        m.get_connection().execute_unprepared(keys).await?;
        m.create_index(
            Index::create()
                .name("ux_tenants_inbound_key")
                .table(Tenants::Table)
                .col(Tenants::InboundKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InboundMails::Table)
                .col(ColumnDef::new(InboundMails::Id).string().not_null().primary_key())
                .col(ColumnDef::new(InboundMails::TenantId).string().not_null())
                .col(ColumnDef::new(InboundMails::MessageId).string().not_null())
                .col(ColumnDef::new(InboundMails::FromAddress).string().not_null())
                .col(ColumnDef::new(InboundMails::FromName).string().not_null())
                .col(ColumnDef::new(InboundMails::Subject).string().not_null())
                .col(
                    ColumnDef::new(InboundMails::ReceivedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(InboundMails::Outcome).string().not_null())
                .col(ColumnDef::new(InboundMails::Reason).string().null())
                .col(ColumnDef::new(InboundMails::TicketId).string().null())
                .col(ColumnDef::new(InboundMails::CommentId).string().null())
                .col(ColumnDef::new(InboundMails::ChatId).string().null())
                .col(ColumnDef::new(InboundMails::Original).text().not_null())
                .col(ColumnDef::new(InboundMails::Attachments).text().not_null())
                .col(ColumnDef::new(InboundMails::SizeBytes).big_integer().not_null())
                .col(ColumnDef::new(InboundMails::Via).string().not_null())
                .to_owned(),
        )
        .await?;
        // One row per Message-ID and workspace: the same mail delivered
        // twice (a relay's retry, two pollers) is imported once.
        m.create_index(
            Index::create()
                .name("ux_inbound_mails_message")
                .table(InboundMails::Table)
                .col(InboundMails::TenantId)
                .col(InboundMails::MessageId)
                .unique()
                .to_owned(),
        )
        .await?;
        // A sender's mail of the last hour (the per-sender limit).
        m.create_index(
            Index::create()
                .name("ix_inbound_mails_sender")
                .table(InboundMails::Table)
                .col(InboundMails::TenantId)
                .col(InboundMails::FromAddress)
                .col(InboundMails::ReceivedAt)
                .to_owned(),
        )
        .await?;
        // A ticket's mail in order (threading headers, the console's thread).
        m.create_index(
            Index::create()
                .name("ix_inbound_mails_ticket")
                .table(InboundMails::Table)
                .col(InboundMails::TenantId)
                .col(InboundMails::TicketId)
                .col(InboundMails::ReceivedAt)
                .to_owned(),
        )
        .await?;
        // The workspace's received mail, newest first (the admin's list).
        m.create_index(
            Index::create()
                .name("ix_inbound_mails_received")
                .table(InboundMails::Table)
                .col(InboundMails::TenantId)
                .col(InboundMails::ReceivedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Mailboxes::Table)
                .col(ColumnDef::new(Mailboxes::TenantId).string().not_null().primary_key())
                .col(ColumnDef::new(Mailboxes::Host).string().not_null())
                .col(ColumnDef::new(Mailboxes::Port).integer().not_null())
                .col(ColumnDef::new(Mailboxes::Security).string().not_null())
                .col(ColumnDef::new(Mailboxes::Username).string().not_null())
                .col(ColumnDef::new(Mailboxes::Password).string().not_null())
                .col(ColumnDef::new(Mailboxes::Folder).string().not_null())
                .col(ColumnDef::new(Mailboxes::LeaseOwner).string().null())
                .col(ColumnDef::new(Mailboxes::LeaseUntil).timestamp_with_time_zone().null())
                .col(
                    ColumnDef::new(Mailboxes::LastPolledAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(Mailboxes::LastError).string().null())
                .col(
                    ColumnDef::new(Mailboxes::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table(TicketComments::Table)
                .add_column(
                    ColumnDef::new(TicketComments::Source)
                        .string()
                        .not_null()
                        .default("agent"),
                )
                .to_owned(),
        )
        .await?;

        for column in [
            ColumnDef::new(MailOutbox::TicketId).string().null().to_owned(),
            ColumnDef::new(MailOutbox::ChatId).string().null().to_owned(),
            ColumnDef::new(MailOutbox::InReplyTo).string().null().to_owned(),
            ColumnDef::new(MailOutbox::ThreadReferences).text().null().to_owned(),
        ] {
            m.alter_table(Table::alter().table(MailOutbox::Table).add_column(column).to_owned())
                .await?;
        }
        m.get_connection().execute_unprepared(OUTBOX_TICKETS).await?;
        m.alter_table(
            Table::alter()
                .table(Chats::Table)
                .add_column(ColumnDef::new(Chats::VisitorSeenAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_message_id")
                .table(MailOutbox::Table)
                .col(MailOutbox::TenantId)
                .col(MailOutbox::MessageId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_mail_outbox_message_id").to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Chats::Table)
                .drop_column(Chats::VisitorSeenAt)
                .to_owned(),
        )
        .await?;
        for column in [
            MailOutbox::TicketId,
            MailOutbox::ChatId,
            MailOutbox::InReplyTo,
            MailOutbox::ThreadReferences,
        ] {
            m.alter_table(Table::alter().table(MailOutbox::Table).drop_column(column).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(TicketComments::Table)
                .drop_column(TicketComments::Source)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Mailboxes::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(InboundMails::Table).to_owned())
            .await?;
        m.drop_index(Index::drop().name("ux_tenants_inbound_key").to_owned())
            .await?;
        for column in [Tenants::InboundKey, Tenants::MailSecret, Tenants::AcknowledgeByMail] {
            m.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
