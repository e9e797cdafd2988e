//! Search: for each chat and ticket, the words it can be found by (see
//! `search`), one row a word, keyed `(tenant_id, term, owner)`. A search
//! reads one key range per word of the query inside its own workspace, so
//! another workspace's size never slows it, and both databases answer it
//! with the same plain index (no extension, no per-backend search syntax).
//!
//! The column compares bytewise (`COLLATE "C"` on PostgreSQL; SQLite's
//! default), which is what makes a word's prefix one range of the key. On
//! SQLite the tables are `WITHOUT ROWID`: a row is its key, written once.
//! Existing chats and tickets are indexed here, in pages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use crate::search::{self, SearchIndex};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows read per page while backfilling.
const PAGE: u64 = 500;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        let bytewise = match backend {
            DbBackend::Postgres => "COLLATE \"C\"",
            _ => "",
        };
        for index in [SearchIndex::Chats, SearchIndex::Tickets] {
            let mut table = Table::create();
            if backend == DbBackend::Sqlite {
                // The key is the whole row: stored once, in the key's own
                // B-tree, rather than in a rowid table plus its index.
                table.extra("WITHOUT ROWID");
            }
            m.create_table(
                table
                    .table(index.table())
                    .col(ColumnDef::new(Alias::new("tenant_id")).string().not_null())
                    .col(ColumnDef::new(Alias::new("term")).string().not_null().extra(bytewise))
                    .col(ColumnDef::new(index.owner()).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("term"))
                            .col(index.owner()),
                    )
                    .to_owned(),
            )
            .await?;
        }
        backfill(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in [SearchIndex::Chats, SearchIndex::Tickets] {
            m.drop_table(Table::drop().table(index.table()).to_owned()).await?;
        }
        Ok(())
    }
}

/// One source of words: a query for a page of rows after the key `k` of
/// the previous page's last, and the columns that hold its texts.
struct Source {
    index: SearchIndex,
    sql: &'static str,
    /// The key is a number (as text): the first page starts after "0".
    numeric_key: bool,
    texts: &'static [&'static str],
}

const SOURCES: &[Source] = &[
    Source {
        index: SearchIndex::Chats,
        sql: "SELECT c.id AS k, c.tenant_id, c.id AS owner, c.subject AS a, v.name AS b, v.email AS c
              FROM chats c JOIN visitors v ON v.id = c.visitor_id WHERE c.id > ? ORDER BY c.id LIMIT ?",
        numeric_key: false,
        texts: &["a", "b", "c"],
    },
    Source {
        index: SearchIndex::Chats,
        sql: "SELECT CAST(id AS TEXT) AS k, tenant_id, chat_id AS owner, body AS a
              FROM messages WHERE id > CAST(? AS BIGINT) AND kind <> 'system' ORDER BY id LIMIT ?",
        numeric_key: true,
        texts: &["a"],
    },
    Source {
        index: SearchIndex::Tickets,
        sql: "SELECT t.id AS k, t.tenant_id, t.id AS owner, t.subject AS a, r.name AS b, r.email AS c,
                     CAST(t.number AS TEXT) AS d
              FROM tickets t JOIN requesters r ON r.id = t.requester_id WHERE t.id > ? ORDER BY t.id LIMIT ?",
        numeric_key: false,
        texts: &["a", "b", "c", "d"],
    },
    Source {
        index: SearchIndex::Tickets,
        sql: "SELECT id AS k, tenant_id, ticket_id AS owner, body AS a
              FROM ticket_comments WHERE id > ? ORDER BY id LIMIT ?",
        numeric_key: false,
        texts: &["a"],
    },
];

async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = m.get_database_backend();
    for source in SOURCES {
        let sql = match backend {
            DbBackend::Postgres => numbered(source.sql),
            _ => source.sql.to_owned(),
        };
        let mut after = if source.numeric_key {
            "0".to_owned()
        } else {
            String::new()
        };
        loop {
            let rows = db
                .query_all_raw(sea_orm_migration::sea_orm::Statement::from_sql_and_values(
                    backend,
                    &sql,
                    [after.clone().into(), (PAGE as i64).into()],
                ))
                .await?;
            for row in &rows {
                let (tenant, owner, terms) = document(source, row)?;
                if let Some(insert) = search::insert(backend, source.index, &tenant, &owner, &terms) {
                    db.execute_raw(insert).await?;
                }
            }
            let Some(last) = rows.last() else { break };
            after = last.try_get::<String>("", "k")?;
            if (rows.len() as u64) < PAGE {
                break;
            }
        }
    }
    Ok(())
}

fn document(source: &Source, row: &QueryResult) -> Result<(String, String, Vec<String>), DbErr> {
    let mut texts = Vec::new();
    for column in source.texts {
        texts.push(row.try_get::<Option<String>>("", column)?.unwrap_or_default());
    }
    let terms = search::terms(texts.iter().map(String::as_str));
    Ok((row.try_get("", "tenant_id")?, row.try_get("", "owner")?, terms))
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`.
fn numbered(sql: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}
