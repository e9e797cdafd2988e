//! The reports' reads. Each is a range of one index (migration 21) within
//! the workspace, counted per bucket of UTC time in the database, so what
//! comes back is at most a row a bucket and series, however many rows the
//! range holds; `domain::reports` makes days of the buckets.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Store, StoreResult};
use crate::domain::reports::Tally;

/// (bucket's start, UTC; series; tally) rows, as `domain::reports` takes them.
pub type Buckets = Vec<(NaiveDateTime, String, Tally)>;

impl Store {
    /// Conversations started in `[from, to)`: chats (spam left out) and
    /// tickets that began elsewhere than a chat, per bucket and channel.
    pub async fn report_conversations(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_minutes: u32,
    ) -> StoreResult<Buckets> {
        let b = self.backend();
        let sql = format!(
            "SELECT {chats} AS bucket, 'chat' AS series, COUNT(*) AS n, CAST(0 AS DOUBLE PRECISION) AS seconds, CAST(0 AS BIGINT) AS met
             FROM chats WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND spam = $4
             GROUP BY 1
             UNION ALL
             SELECT {tickets}, channel, COUNT(*), CAST(0 AS DOUBLE PRECISION), CAST(0 AS BIGINT)
             FROM tickets WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND channel <> 'chat'
             GROUP BY 1, 2",
            chats = bucket(b, "created_at", bucket_minutes),
            tickets = bucket(b, "created_at", bucket_minutes),
        );
        self.buckets(&sql, tenant_id, from, to, true, bucket_minutes).await
    }

    /// First responses given in `[from, to)`, with the seconds since the
    /// conversation began: chats (a converted ticket's first response is
    /// its chat's), and tickets made elsewhere than a chat.
    pub async fn report_first_responses(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_minutes: u32,
    ) -> StoreResult<Buckets> {
        let b = self.backend();
        let sql = format!(
            "SELECT {chats} AS bucket, 'chat' AS series, COUNT(*) AS n,
                    SUM({chat_secs}) AS seconds, CAST(0 AS BIGINT) AS met
             FROM chats WHERE tenant_id = $1 AND first_response_at >= $2 AND first_response_at < $3 AND spam = $4
             GROUP BY 1
             UNION ALL
             SELECT {tickets}, channel, COUNT(*), SUM({ticket_secs}), CAST(0 AS BIGINT)
             FROM tickets
             WHERE tenant_id = $1 AND first_response_at >= $2 AND first_response_at < $3 AND channel <> 'chat'
             GROUP BY 1, 2",
            chats = bucket(b, "first_response_at", bucket_minutes),
            chat_secs = seconds(b, "first_response_at", "created_at"),
            tickets = bucket(b, "first_response_at", bucket_minutes),
            ticket_secs = seconds(b, "first_response_at", "created_at"),
        );
        self.buckets(&sql, tenant_id, from, to, true, bucket_minutes).await
    }

    /// Tickets solved in `[from, to)`, with the seconds since each was made.
    pub async fn report_resolutions(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_minutes: u32,
    ) -> StoreResult<Buckets> {
        let b = self.backend();
        let sql = format!(
            "SELECT {bucket} AS bucket, 'resolution' AS series, COUNT(*) AS n,
                    SUM({secs}) AS seconds, CAST(0 AS BIGINT) AS met
             FROM tickets WHERE tenant_id = $1 AND solved_at >= $2 AND solved_at < $3
             GROUP BY 1",
            bucket = bucket(b, "solved_at", bucket_minutes),
            secs = seconds(b, "solved_at", "created_at"),
        );
        self.buckets(&sql, tenant_id, from, to, false, bucket_minutes).await
    }

    /// Targets settled in `[from, to)`: a first response target when the
    /// first response came, a resolution target when the ticket was
    /// solved; met when that was no later than due.
    pub async fn report_sla(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_minutes: u32,
    ) -> StoreResult<Buckets> {
        let b = self.backend();
        let sql = format!(
            "SELECT {first} AS bucket, 'first_response' AS series, COUNT(*) AS n, CAST(0 AS DOUBLE PRECISION) AS seconds,
                    SUM(CASE WHEN first_response_at <= first_response_due_at THEN 1 ELSE 0 END) AS met
             FROM tickets
             WHERE tenant_id = $1 AND first_response_at >= $2 AND first_response_at < $3
               AND first_response_due_at IS NOT NULL
             GROUP BY 1
             UNION ALL
             SELECT {solved}, 'resolution', COUNT(*), CAST(0 AS DOUBLE PRECISION),
                    SUM(CASE WHEN solved_at <= resolution_due_at THEN 1 ELSE 0 END)
             FROM tickets
             WHERE tenant_id = $1 AND solved_at >= $2 AND solved_at < $3 AND resolution_due_at IS NOT NULL
             GROUP BY 1",
            first = bucket(b, "first_response_at", bucket_minutes),
            solved = bucket(b, "solved_at", bucket_minutes),
        );
        self.buckets(&sql, tenant_id, from, to, false, bucket_minutes).await
    }

    /// Ratings given in `[from, to)` per agent the chat was assigned to
    /// and score: (agent id, name, score, count).
    pub async fn report_ratings(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(Option<String>, String, i16, i64)>> {
        let sql =
            "SELECT c.assignee_id AS agent_id, a.name AS agent_name, CAST(r.score AS INTEGER) AS score, COUNT(*) AS n
             FROM ratings r
             JOIN chats c ON c.id = r.chat_id AND c.tenant_id = r.tenant_id
             LEFT JOIN agents a ON a.id = c.assignee_id AND a.tenant_id = c.tenant_id
             WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3
             GROUP BY c.assignee_id, a.name, r.score";
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.backend(),
                sql,
                [tenant_id.into(), from.into(), to.into()],
            ))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: Option<String> = row.try_get("", "agent_id")?;
            let name: Option<String> = row.try_get("", "agent_name")?;
            let score: i32 = row.try_get("", "score")?;
            let n: i64 = row.try_get("", "n")?;
            out.push((id, name.unwrap_or_else(|| "Nobody".to_owned()), score as i16, n));
        }
        Ok(out)
    }

    async fn buckets(
        &self,
        sql: &str,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        with_spam_flag: bool,
        bucket_minutes: u32,
    ) -> StoreResult<Buckets> {
        let mut values: Vec<sea_orm::Value> = vec![tenant_id.into(), from.into(), to.into()];
        if with_spam_flag {
            values.push(false.into());
        }
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(self.backend(), sql, values))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let bucket: i64 = row.try_get("", "bucket")?;
            let Some(bucket) = DateTime::from_timestamp(bucket * i64::from(bucket_minutes) * 60, 0) else {
                continue;
            };
            let bucket = bucket.naive_utc();
            let series: String = row.try_get("", "series")?;
            let count: i64 = row.try_get("", "n")?;
            let seconds: Option<f64> = row.try_get("", "seconds")?;
            let met: Option<i64> = row.try_get("", "met")?;
            out.push((
                bucket,
                series,
                Tally {
                    count,
                    seconds: seconds.unwrap_or(0.0),
                    met: met.unwrap_or(0),
                },
            ));
        }
        Ok(out)
    }
}

/// `column`'s bucket: the number of whole `minutes` (60 or 15; a number of
/// ours, never the caller's) since the Unix epoch, in integer arithmetic
/// (exact at a bucket's edge), as a BIGINT.
fn bucket(backend: DbBackend, column: &str, minutes: u32) -> String {
    debug_assert!(minutes == 60 || minutes == 15);
    let seconds = minutes * 60;
    match backend {
        DbBackend::Postgres => format!("floor(extract(epoch FROM {column}) / {seconds})::bigint"),
        _ => format!("unixepoch({column}) / {seconds}"),
    }
}

/// Seconds from `since` to `until`, as a float.
fn seconds(backend: DbBackend, until: &str, since: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("EXTRACT(EPOCH FROM ({until} - {since}))::float8"),
        _ => format!("(julianday({until}) - julianday({since})) * 86400.0"),
    }
}
