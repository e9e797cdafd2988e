//! Rate limits and the sign-in lock shared by every node of a PostgreSQL
//! deployment (see `http::rate`): each check is one statement, one round
//! trip, timed by the database's clock so that nodes whose clocks differ
//! still agree. SQLite deployments are one node and keep them in memory.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Store, StoreResult};

/// A bucket's answer: let through, or refused for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Granted,
    /// Microseconds until a request would be let through.
    Refused {
        wait_us: i64,
    },
}

/// What a shared sign-in check found, and whether it counted the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInCheck {
    /// The failures from this network in the window, and when the oldest
    /// of them leaves it (µs from now).
    pub from_network: i64,
    pub oldest_leaves_in_us: i64,
    /// The account's failures from every network in the window, and how
    /// long ago the last one was (µs).
    pub from_everywhere: i64,
    pub since_last_us: i64,
    /// The row counting this attempt as a failure until it succeeds, if
    /// it was let through.
    pub counted: Option<i64>,
}

/// The database's clock, in microseconds since the epoch.
const NOW_US: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

impl Store {
    /// Takes one request from the bucket `key` of a GCRA limit: one every
    /// `period_us`, `burst` at once. The bucket is its theoretical arrival
    /// time (`tat`): a request is let through when the new `tat` is at most
    /// `burst` periods ahead of now.
    pub async fn take_shared(&self, key: &str, period_us: i64, burst: i64) -> StoreResult<Take> {
        let sql = format!(
            "WITH n AS (SELECT {NOW_US} AS now), \
             up AS (INSERT INTO rate_buckets (key, tat) SELECT $1, n.now + $2 FROM n \
                    ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_buckets.tat, (SELECT now FROM n)) + $2 \
                    WHERE GREATEST(rate_buckets.tat, (SELECT now FROM n)) + $2 - $3 <= (SELECT now FROM n) \
                    RETURNING tat) \
             SELECT (SELECT tat FROM up) AS granted, \
                    (SELECT tat FROM rate_buckets WHERE key = $1) AS before, n.now FROM n"
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [key.into(), period_us.into(), (period_us * burst).into()],
            ))
            .await?
            .expect("one row");
        if row.try_get::<Option<i64>>("", "granted")?.is_some() {
            return Ok(Take::Granted);
        }
        let before: i64 = row.try_get::<Option<i64>>("", "before")?.unwrap_or(0);
        let now: i64 = row.try_get("", "now")?;
        Ok(Take::Refused {
            wait_us: (before.max(now) + period_us - period_us * burst - now).max(1),
        })
    }

    /// Reads the account's recent failures and, unless this network is
    /// locked out (`cap` failures from it in `window_us`) or the account is
    /// slowed down (past `free` failures from everywhere: 1 s since the
    /// last, doubling with each, at most `max_delay_us`), counts this
    /// attempt as a failure: one statement, attempts on one account taking
    /// turns.
    pub async fn check_sign_in_shared(
        &self,
        account: &str,
        network: &str,
        window_us: i64,
        cap: i64,
        free: i64,
        max_delay_us: i64,
    ) -> StoreResult<SignInCheck> {
        // The function (migration 22) takes turns per account; see there.
        let sql = "SELECT from_network, oldest_leaves_in, from_everywhere, since_last, counted \
                   FROM threadline_sign_in_attempt($1, $2, $3, $4, $5, $6)";
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [
                    account.into(),
                    network.into(),
                    window_us.into(),
                    cap.into(),
                    free.into(),
                    max_delay_us.into(),
                ],
            ))
            .await?
            .expect("one row");
        Ok(SignInCheck {
            from_network: row.try_get("", "from_network")?,
            oldest_leaves_in_us: row.try_get("", "oldest_leaves_in")?,
            from_everywhere: row.try_get("", "from_everywhere")?,
            since_last_us: row.try_get("", "since_last")?,
            counted: row.try_get("", "counted")?,
        })
    }

    /// A successful sign-in: the failures from its network go, and the
    /// others stop counting toward the account's slow-down (their own
    /// networks stay locked).
    pub async fn signed_in_shared(&self, account: &str, network: &str) -> StoreResult<()> {
        self.writer
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH gone AS (DELETE FROM sign_in_failures WHERE account = $1 AND network = $2) \
                 UPDATE sign_in_failures SET account_wide = false WHERE account = $1 AND network <> $2 AND account_wide",
                [account.into(), network.into()],
            ))
            .await?;
        Ok(())
    }

    /// Forgets buckets that are full again and failures out of the window.
    pub async fn prune_shared_limits(&self, window_us: i64) -> StoreResult<()> {
        self.writer
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "WITH b AS (DELETE FROM rate_buckets WHERE tat < {NOW_US}) \
                     DELETE FROM sign_in_failures WHERE failed_at < {NOW_US} - $1"
                ),
                [window_us.into()],
            ))
            .await?;
        Ok(())
    }
}
