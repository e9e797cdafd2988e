//! A whole workspace as JSON lines, out and back in: how an operator hands
//! a customer their data and moves a workspace to another server.
//!
//! The format (`application/x-ndjson`, one JSON object a line):
//! - first `{"format": "threadline-workspace", "version": 1, "workspace":
//!   <id>, "slug": <slug>, "exported_at": <time>}`;
//! - then one `{"table": <name>, "row": {<column>: <value>, ...}}` per row,
//!   parents before children ([`EXPORT_TABLES`]), columns as the schema
//!   names them, times in RFC 3339, a plugin's code in base64;
//! - last `{"end": true, "rows": <rows written>}`: a stream without it was
//!   cut short, and an import refuses it.
//!
//! Left out: secrets and what only they make useful: credentials (API
//! tokens, sessions and passwords: agents sign in again after a password
//! reset or an invitation), pending invitations and password resets, the
//! IMAP mailbox's settings (they hold its password: set it again),
//! webhooks (they hold their signing secrets: add them again, and give the
//! receivers the new secrets) with their delivery logs, events waiting to
//! be handled and the scheduler's marks (the moved workspace's timed rules
//! look at its tickets afresh), and visitors' tokens (a visitor starts a new chat). Messages' numeric ids
//! are given anew by the importing database, in the same order.
//!
//! The export reads one snapshot (a read transaction) and streams it, so it
//! holds at most a page of rows in memory whatever the workspace's size.

use futures_util::StreamExt;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    AccessMode, DatabaseTransaction, EntityTrait, IntoActiveModel, IsolationLevel, Iterable, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::entities::{
    agent, audit_entry, automation_rule, canned_reply, chat, chat_term, inbound_mail, mail_outbox, message,
    pipeline_hook, pipeline_version, plugin, plugin_fault, rating, requester, tenant, ticket, ticket_comment,
    ticket_event, ticket_term, usage_day, visitor, visitor_block,
};
use super::{Store, StoreError, StoreResult, Tenant, mail_state, new_id, new_public_key};

mod tables;

use tables::for_table;
pub use tables::{EXPORT_TABLES, NOT_EXPORTED};

pub const FORMAT: &str = "threadline-workspace";
pub const VERSION: u64 = 1;

/// The longest line an import reads: a plugin's code in base64 with room.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// What an import made.
#[derive(Debug, Clone)]
pub struct Imported {
    pub tenant: Tenant,
    pub rows: u64,
    /// Whether ids were given anew (the workspace was on this server already).
    pub new_ids: bool,
}

impl Store {
    /// Streams the workspace's export as lines into `out` (each ends with
    /// `\n`), from one snapshot. Stops early, without error, when the
    /// receiver is gone.
    pub async fn export_workspace(&self, tenant_id: &str, out: mpsc::Sender<String>) -> StoreResult<()> {
        let txn = self
            .db
            .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
            .await?;
        let workspace = tenant::Entity::find_by_id(tenant_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let header = json!({
            "format": FORMAT,
            "version": VERSION,
            "workspace": workspace.id,
            "slug": workspace.slug,
            "exported_at": chrono::Utc::now(),
        });
        if out.send(format!("{header}\n")).await.is_err() {
            return Ok(());
        }
        let mut rows = 0u64;
        for table in EXPORT_TABLES {
            let sent = for_table!(*table, m => export_rows::<m::Entity>(&txn, table, tenant_id, &out).await?,
                else unreachable!("every exported table has an entity"));
            match sent {
                Some(n) => rows += n,
                None => return Ok(()),
            }
        }
        let _ = out.send(format!("{}\n", json!({"end": true, "rows": rows}))).await;
        txn.commit().await?;
        Ok(())
    }

    /// Loads an export into this server as a new workspace under `slug`
    /// (the exported one when `None`), in one transaction: all of it or,
    /// on any error, nothing. Ids are kept when the workspace is new here
    /// (a move: links and integrations keep working) and given anew when it
    /// is here already (a copy).
    pub async fn import_workspace(
        &self,
        lines: impl futures_util::Stream<Item = Result<String, String>> + Unpin,
        slug: Option<&str>,
    ) -> StoreResult<Imported> {
        let mut lines = lines;
        let invalid = |message: String| StoreError::Invalid("body", message);
        let header: Value = match lines.next().await {
            Some(Ok(line)) => serde_json::from_str(&line).map_err(|e| invalid(format!("line 1 is not JSON: {e}")))?,
            Some(Err(e)) => return Err(invalid(e)),
            None => return Err(invalid("the body is empty; send a workspace export".into())),
        };
        if header["format"] != FORMAT {
            return Err(invalid(format!("line 1 does not start a {FORMAT} export")));
        }
        let version = header["version"].as_u64().unwrap_or(0);
        if version != VERSION {
            return Err(invalid(format!(
                "this export is of version {version}; this server reads version {VERSION}"
            )));
        }
        let source = header["workspace"]
            .as_str()
            .ok_or_else(|| invalid("line 1 names no workspace".into()))?
            .to_owned();
        let wanted = slug.or(header["slug"].as_str()).unwrap_or_default().to_owned();
        if tenant::Entity::find()
            .filter(Expr::col(tenant::Column::Slug).eq(wanted.as_str()))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "a workspace with the slug {wanted:?} exists here; choose another with ?slug="
            )));
        }
        let new_ids = tenant::Entity::find_by_id(&source).one(&self.db).await?.is_some();
        let ids = Ids {
            salt: new_ids.then(new_id),
        };
        let txn = self.write_txn().await?;
        let mut batch = Batch::default();
        let mut rows = 0u64;
        let mut tenant_row: Option<Tenant> = None;
        let mut ended = false;
        let mut number = 1;
        while let Some(line) = lines.next().await {
            number += 1;
            let line = line.map_err(invalid)?;
            if line.trim().is_empty() {
                continue;
            }
            let mut item: Value =
                serde_json::from_str(&line).map_err(|e| invalid(format!("line {number} is not JSON: {e}")))?;
            if item["end"] == true {
                if item["rows"].as_u64() != Some(rows) {
                    return Err(invalid(format!(
                        "the export says it holds {} rows but {rows} came",
                        item["rows"]
                    )));
                }
                ended = true;
                break;
            }
            let table = item["table"]
                .as_str()
                .ok_or_else(|| invalid(format!("line {number} names no table")))?
                .to_owned();
            let row = item
                .get_mut("row")
                .filter(|r| r.is_object())
                .ok_or_else(|| invalid(format!("line {number} holds no row")))?;
            // Every row is the workspace's own: a stream cannot write into
            // another workspace.
            let owner = if table == "tenants" {
                &row["id"]
            } else {
                &row["tenant_id"]
            };
            if owner.as_str() != Some(source.as_str()) {
                return Err(invalid(format!(
                    "line {number}: a row of another workspace than {source}"
                )));
            }
            if (table == "tenants") != tenant_row.is_none() {
                return Err(invalid(format!(
                    "line {number}: the workspace's own row must come first, once"
                )));
            }
            ids.remap(row);
            adjust(&table, row, new_ids, slug);
            if table == "tenants" {
                let model: tenant::Model = serde_json::from_value(row.clone())
                    .map_err(|e| invalid(format!("line {number}: not a row of tenants: {e}")))?;
                tenant_row = Some(model);
            }
            batch.push(&txn, &table, row.take(), number, line.len()).await?;
            rows += 1;
        }
        if !ended {
            return Err(invalid("the export ends early: its last line is missing".into()));
        }
        batch.flush(&txn).await?;
        let tenant = tenant_row.ok_or_else(|| invalid("the export holds no workspace".into()))?;
        txn.commit().await?;
        Ok(Imported { tenant, rows, new_ids })
    }
}

/// Sends the workspace's rows of one table, in key order, a line each;
/// `None` when the receiver is gone.
async fn export_rows<E>(
    txn: &DatabaseTransaction,
    table: &str,
    tenant_id: &str,
    out: &mpsc::Sender<String>,
) -> StoreResult<Option<u64>>
where
    E: EntityTrait,
    E::Model: serde::Serialize + Sync,
{
    let owner = if table == "tenants" { "id" } else { "tenant_id" };
    let mut find = E::find().filter(Expr::col(Alias::new(owner)).eq(tenant_id));
    for key in E::PrimaryKey::iter() {
        find = find.order_by_asc(sea_orm::PrimaryKeyToColumn::into_column(key));
    }
    let mut stream = find.stream(txn).await?;
    let mut sent = 0;
    while let Some(row) = stream.next().await {
        let mut row = serde_json::to_value(row?).map_err(|e| StoreError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
        if table == "visitors" {
            // A visitor's token, even hashed, is theirs alone.
            row["token_hash"] = Value::Null;
        }
        let line = format!("{}\n", json!({"table": table, "row": row}));
        if out.send(line).await.is_err() {
            return Ok(None);
        }
        sent += 1;
    }
    Ok(Some(sent))
}

/// Rows of one table waiting to be inserted together.
#[derive(Default)]
struct Batch {
    table: String,
    rows: Vec<(Value, usize)>,
    /// The lines' length together: plugins are megabytes a row.
    bytes: usize,
}

/// Rows inserted per statement, and their bytes at most (past one row).
const BATCH_ROWS: usize = 100;
const BATCH_BYTES: usize = 8 << 20;

impl Batch {
    async fn push(
        &mut self,
        txn: &DatabaseTransaction,
        table: &str,
        row: Value,
        line: usize,
        bytes: usize,
    ) -> StoreResult<()> {
        let full = self.rows.len() >= BATCH_ROWS || self.bytes + bytes > BATCH_BYTES;
        if (self.table != table || full) && !self.rows.is_empty() {
            self.flush(txn).await?;
        }
        self.table = table.to_owned();
        self.rows.push((row, line));
        self.bytes += bytes;
        Ok(())
    }

    async fn flush(&mut self, txn: &DatabaseTransaction) -> StoreResult<()> {
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        if rows.is_empty() {
            return Ok(());
        }
        let table = self.table.as_str();
        for_table!(table, m => insert::<m::Entity, m::ActiveModel>(txn, table, rows).await,
        else Err(StoreError::Invalid("body", format!(
            "line {}: no table {table:?} in an export (the tables are {})",
            rows[0].1,
            EXPORT_TABLES.join(", ")
        ))))
    }
}

async fn insert<E, A>(txn: &DatabaseTransaction, table: &str, rows: Vec<(Value, usize)>) -> StoreResult<()>
where
    E: EntityTrait,
    E::Model: serde::de::DeserializeOwned + sea_orm::IntoActiveModel<A>,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut models = Vec::with_capacity(rows.len());
    for (mut row, line) in rows {
        if table == "visitors" && row.get("email_normalized").is_none_or(Value::is_null) {
            // An export from before migration 24: a visitor is found by
            // their address through this column.
            let normalized = row["email"].as_str().map(|e| e.trim().to_lowercase());
            row["email_normalized"] = json!(normalized);
        }
        let model: E::Model = serde_json::from_value(row)
            .map_err(|e| StoreError::Invalid("body", format!("line {line}: not a row of {table}: {e}")))?;
        let mut active = model.into_active_model();
        if table == "messages" {
            // Numbered anew by this database, in the order they come.
            for key in E::PrimaryKey::iter() {
                active.not_set(sea_orm::PrimaryKeyToColumn::into_column(key));
            }
        }
        models.push(active);
    }
    E::insert_many(models)
        .exec_without_returning(txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(_) => StoreError::Conflict(format!("{table}: {e}")),
            None => e.into(),
        })?;
    Ok(())
}

/// Changes a row needs on its way in, whatever its ids.
fn adjust(table: &str, row: &mut Value, new_ids: bool, slug: Option<&str>) {
    match table {
        "tenants" => {
            if let Some(slug) = slug {
                row["slug"] = slug.into();
            }
            // The site's snippet keeps working after a move; a copy beside
            // the original needs a key of its own.
            // So do its inbound URL and reply addresses.
            if new_ids {
                row["widget_key"] = new_public_key("wk").into();
                row["inbound_key"] = super::tenants::new_inbound_key().into();
            }
        }
        "agents" => {
            // Recounted by the tickets' triggers as the tickets come in.
            row["open_tickets"] = 0.into();
            let id = row["id"].as_str().unwrap_or_default().to_owned();
            row["token_hash"] = format!("retired:{id}").into();
        }
        "visitors" => {
            // No token hashes to this: a visitor back starts a new chat.
            let id = row["id"].as_str().unwrap_or_default().to_owned();
            row["token_hash"] = format!("moved:{id}").into();
        }
        "mail_outbox" if row["state"] == mail_state::QUEUED => {
            // The server it came from may still send it: not twice.
            row["state"] = mail_state::FAILED.into();
            row["last_error"] = "not sent: the workspace was moved before it went".into();
        }
        "messages" => {
            // Any number: the database gives it.
            row["id"] = 0.into();
        }
        _ => {}
    }
}

/// How ids come in: as they were, or each given anew the same way
/// wherever it appears (a function of the id and this import's salt, so
/// references between rows hold without a table of them).
struct Ids {
    salt: Option<String>,
}

/// Columns holding the id of another row (besides `id` and `*_id`).
const REFERENCES: &[&str] = &["uploaded_by", "changed_by", "created_by", "blocked_by", "plugin"];

/// Columns holding JSON whose strings may name rows (a pipeline's plugins,
/// a rule's agent).
const JSON_TEXT: &[&str] = &["hooks", "config"];

impl Ids {
    fn remap(&self, row: &mut Value) {
        let Some(salt) = &self.salt else { return };
        let Some(object) = row.as_object_mut() else { return };
        for (column, value) in object.iter_mut() {
            let Some(text) = value.as_str() else { continue };
            if column == "id" || column.ends_with("_id") || REFERENCES.contains(&column.as_str()) {
                if let Ok(old) = uuid::Uuid::parse_str(text) {
                    *value = Value::String(renamed(salt, old).to_string());
                }
            } else if JSON_TEXT.contains(&column.as_str()) {
                *value = Value::String(rename_within(salt, text));
            }
        }
    }
}

/// A new id for `old`: its time (the first 48 bits of a UUIDv7) kept, so
/// ids still sort by when their rows were made, the rest from a hash.
fn renamed(salt: &str, old: uuid::Uuid) -> uuid::Uuid {
    let hash = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(old.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&old.as_bytes()[..6]);
    bytes[6..].copy_from_slice(&hash[..10]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// `text` with every UUID in it renamed.
fn rename_within(salt: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // 36 characters parse as a UUID only in its hyphenated form.
        match rest.get(..36).and_then(|c| uuid::Uuid::parse_str(c).ok()) {
            Some(old) => {
                out.push_str(&renamed(salt, old).to_string());
                rest = &rest[36..];
            }
            None => {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Bytes in JSON (a workspace's export) as base64, not an array of numbers.
pub(super) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_id_keeps_its_time_and_is_the_same_wherever_it_appears() {
        let old = uuid::Uuid::now_v7();
        let new = renamed("salt", old);
        assert_ne!(new, old);
        assert_eq!(new.get_version_num(), 7);
        assert_eq!(new.as_bytes()[..6], old.as_bytes()[..6]);
        assert_eq!(renamed("salt", old), new);
        assert_ne!(renamed("other salt", old), new);
        let json = format!(r#"{{"subject":{{"plugin":"{old}","config":{{}}}}}}"#);
        assert_eq!(
            rename_within("salt", &json),
            format!(r#"{{"subject":{{"plugin":"{new}","config":{{}}}}}}"#)
        );
        assert_eq!(rename_within("salt", "no ids here, ünïcode"), "no ids here, ünïcode");
    }

    #[test]
    fn only_id_columns_are_renamed() {
        let ids = Ids { salt: Some("s".into()) };
        let id = uuid::Uuid::now_v7().to_string();
        let mut row = json!({"id": id, "chat_id": id, "body": id, "message_id": format!("<{id}@x>")});
        ids.remap(&mut row);
        assert_ne!(row["id"], id.as_str());
        assert_eq!(row["id"], row["chat_id"]);
        assert_eq!(row["body"], id.as_str(), "text stays as written");
        assert_eq!(row["message_id"], format!("<{id}@x>"));
        let mut kept = row.clone();
        Ids { salt: None }.remap(&mut kept);
        assert_eq!(kept, row);
    }
}
