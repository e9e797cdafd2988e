//! What an agent signs in with, and what resolves to them afterwards:
//! passwords (argon2id PHC strings on `agents`), sessions and API tokens
//! (`agent_credentials`, by the SHA-256 of the token).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect,
};

use super::entities::{agent, agent_credential, tenant};
use super::{Agent, Store, StoreError, StoreResult, new_id, new_token, prefixed, token_hash};
use crate::domain::hosting::WorkspaceStatus;

pub use agent_credential::Model as Credential;

/// Live sessions one agent may hold; signing in once more ends the oldest,
/// so a script signing in in a loop cannot fill the disk.
pub const MAX_SESSIONS_PER_AGENT: u64 = 50;

/// API tokens one workspace may hold.
pub const MAX_API_TOKENS_PER_WORKSPACE: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// From a sign-in; expires when unused for the session lifetime.
    Session,
    /// Named, for scripts; lasts until an admin revokes it.
    Api,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
        }
    }
}

/// A credential just made, with the only copy of its token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub credential: Credential,
    pub token: String,
}

/// What a sign-in checks the password against.
#[derive(Debug, Clone)]
pub struct Account {
    pub agent: Agent,
    pub password_hash: Option<String>,
}

impl Store {
    /// Sets (or replaces) an agent's password.
    pub async fn set_password(&self, tenant_id: &str, agent_id: &str, password_hash: &str) -> StoreResult<()> {
        let done = self
            .writer
            .execute(&password_update(tenant_id, agent_id, password_hash))
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The agent a sign-in names: by workspace slug and normalized email,
    /// one indexed lookup.
    pub async fn account(&self, workspace_slug: &str, email_normalized: &str) -> StoreResult<Option<Account>> {
        let mut query = Query::select();
        prefixed::<agent::Entity>(&mut query, "a_");
        query
            .expr_as(
                Expr::col((agent::Entity, Alias::new("password_hash"))),
                Alias::new("password_hash"),
            )
            .from(agent::Entity)
            .join(
                JoinType::InnerJoin,
                tenant::Entity,
                Expr::col((tenant::Entity, tenant::Column::Id)).equals((agent::Entity, agent::Column::TenantId)),
            )
            .and_where(Expr::col((tenant::Entity, tenant::Column::Slug)).eq(workspace_slug))
            .and_where(Expr::col((agent::Entity, agent::Column::EmailNormalized)).eq(email_normalized));
        let Some(row) = self.db.query_one(&query).await? else {
            return Ok(None);
        };
        Ok(Some(Account {
            agent: Agent::from_query_result(&row, "a_")?,
            password_hash: row.try_get("", "password_hash")?,
        }))
    }

    /// Makes a credential for `agent`. A new session also ends the agent's
    /// expired sessions, and the oldest beyond [`MAX_SESSIONS_PER_AGENT`];
    /// a new API token is refused past [`MAX_API_TOKENS_PER_WORKSPACE`].
    pub async fn issue_credential(
        &self,
        agent: &Agent,
        kind: CredentialKind,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Issued> {
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        if kind == CredentialKind::Api {
            let held = agent_credential::Entity::find()
                .filter(agent_credential::Column::TenantId.eq(&agent.tenant_id))
                .filter(agent_credential::Column::Kind.eq(kind.as_str()))
                .count(&txn)
                .await?;
            if held >= MAX_API_TOKENS_PER_WORKSPACE {
                return Err(StoreError::Conflict(format!(
                    "a workspace may hold at most {MAX_API_TOKENS_PER_WORKSPACE} API tokens; revoke one first"
                )));
            }
        }
        let issued = insert_credential(&txn, agent, kind, name, expires_at).await?;
        if kind == CredentialKind::Session {
            agent_credential::Entity::delete_many()
                .filter(agent_credential::Column::AgentId.eq(&agent.id))
                .filter(agent_credential::Column::Kind.eq(kind.as_str()))
                .filter(agent_credential::Column::ExpiresAt.lt(now))
                .exec(&txn)
                .await?;
            let surplus: Vec<String> = agent_credential::Entity::find()
                .filter(agent_credential::Column::AgentId.eq(&agent.id))
                .filter(agent_credential::Column::Kind.eq(kind.as_str()))
                .order_by_desc(agent_credential::Column::CreatedAt)
                .order_by_desc(agent_credential::Column::Id)
                .offset(MAX_SESSIONS_PER_AGENT)
                .limit(MAX_SESSIONS_PER_AGENT)
                .select_only()
                .column(agent_credential::Column::Id)
                .into_tuple()
                .all(&txn)
                .await?;
            if !surplus.is_empty() {
                agent_credential::Entity::delete_many()
                    .filter(agent_credential::Column::Id.is_in(surplus))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(issued)
    }

    /// The agent a token belongs to, with the credential it is, unless the
    /// credential expired or was revoked. One query.
    pub async fn agent_by_token(&self, token: &str) -> StoreResult<(Agent, Credential, WorkspaceStatus)> {
        let query = token_query(token_hash(token), Utc::now());
        let row = self
            .hot_query_one(self.backend().build(&query))
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(token_row(&row)?)
    }

    /// Notes that a credential was used, and moves a session's expiry to
    /// `expires_at` (never backwards, and not for a revoked one).
    pub async fn touch_credential(&self, id: &str, expires_at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let now = Utc::now().trunc_subsecs(6);
        let mut update = agent_credential::Entity::update_many()
            .col_expr(agent_credential::Column::LastUsedAt, now.into())
            .filter(agent_credential::Column::Id.eq(id));
        if let Some(at) = expires_at {
            update = update
                .col_expr(agent_credential::Column::ExpiresAt, at.trunc_subsecs(6).into())
                .filter(agent_credential::Column::ExpiresAt.lt(at));
        }
        update.exec(&self.writer).await?;
        Ok(())
    }

    /// Ends a credential of the workspace (of `kind`, if given): its token
    /// gets 401 from now on.
    pub async fn revoke_credential(&self, tenant_id: &str, id: &str, kind: Option<CredentialKind>) -> StoreResult<()> {
        let mut delete = agent_credential::Entity::delete_many()
            .filter(agent_credential::Column::Id.eq(id))
            .filter(agent_credential::Column::TenantId.eq(tenant_id));
        if let Some(kind) = kind {
            delete = delete.filter(agent_credential::Column::Kind.eq(kind.as_str()));
        }
        let done = delete.exec(&self.writer).await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The workspace's API tokens, newest first (at most
    /// [`MAX_API_TOKENS_PER_WORKSPACE`]).
    pub async fn api_tokens(&self, tenant_id: &str) -> StoreResult<Vec<Credential>> {
        Ok(agent_credential::Entity::find()
            .filter(agent_credential::Column::TenantId.eq(tenant_id))
            .filter(agent_credential::Column::Kind.eq(CredentialKind::Api.as_str()))
            .order_by_desc(agent_credential::Column::CreatedAt)
            .order_by_desc(agent_credential::Column::Id)
            .limit(MAX_API_TOKENS_PER_WORKSPACE)
            .all(&self.db)
            .await?)
    }

    /// Ends every session of an agent but `except` (their password
    /// changed); returns the ids of the sessions ended.
    pub async fn end_sessions(
        &self,
        tenant_id: &str,
        agent_id: &str,
        except: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut sessions = agent_credential::Entity::find()
            .filter(agent_credential::Column::AgentId.eq(agent_id))
            .filter(agent_credential::Column::TenantId.eq(tenant_id))
            .filter(agent_credential::Column::Kind.eq(CredentialKind::Session.as_str()));
        if let Some(id) = except {
            sessions = sessions.filter(agent_credential::Column::Id.ne(id));
        }
        let ids: Vec<String> = sessions
            .select_only()
            .column(agent_credential::Column::Id)
            .into_tuple()
            .all(&txn)
            .await?;
        if !ids.is_empty() {
            agent_credential::Entity::delete_many()
                .filter(agent_credential::Column::Id.is_in(ids.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids)
    }
}

/// The agent, credential and workspace status of a row of
/// [`token_query_with`] whose query also selected the workspace's status as
/// `t_status` ([`token_query`] that alone, the conversion's read with the
/// rest of the workspace's row).
pub(super) fn token_row(row: &QueryResult) -> Result<(Agent, Credential, WorkspaceStatus), DbErr> {
    let status: String = row.try_get("", "t_status")?;
    Ok((
        Agent::from_query_result(row, "a_")?,
        Credential::from_query_result(row, "c_")?,
        WorkspaceStatus::of(&status),
    ))
}

/// The statement that sets an agent's password hash (a column the entity
/// leaves out, so that no agent read elsewhere carries it).
pub(super) fn password_update(
    tenant_id: &str,
    agent_id: &str,
    password_hash: &str,
) -> sea_orm::sea_query::UpdateStatement {
    Query::update()
        .table(agent::Entity)
        .value(Alias::new("password_hash"), password_hash)
        .and_where(Expr::col(agent::Column::Id).eq(agent_id))
        .and_where(Expr::col(agent::Column::TenantId).eq(tenant_id))
        .to_owned()
}

/// Inserts a credential in `txn`; the token is returned only here.
pub(super) async fn insert_credential(
    txn: &sea_orm::DatabaseTransaction,
    agent: &Agent,
    kind: CredentialKind,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> StoreResult<Issued> {
    let (token, hash) = new_token(match kind {
        CredentialKind::Session => "tls",
        CredentialKind::Api => "tl",
    });
    let credential = agent_credential::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(agent.tenant_id.clone()),
        agent_id: Set(agent.id.clone()),
        kind: Set(kind.as_str().to_owned()),
        name: Set(name.to_owned()),
        token_hash: Set(hash),
        created_at: Set(Utc::now().trunc_subsecs(6)),
        last_used_at: Set(None),
        expires_at: Set(expires_at.map(|t| t.trunc_subsecs(6))),
    }
    .insert(txn)
    .await?;
    Ok(Issued { credential, token })
}

/// When a session used now should expire, or `None` when its stored expiry
/// is recent enough: a session slides at most once per `ttl / 10` (and at
/// least once a minute), so most requests write nothing.
pub fn slid_expiry(current: Option<DateTime<Utc>>, ttl: Duration) -> Option<DateTime<Utc>> {
    let current = current?;
    let target = Utc::now() + ttl;
    let slack = (ttl / 10).min(Duration::seconds(60));
    (target - current > slack).then_some(target)
}

/// The query behind [`Store::agent_by_token`]: every agent request's first
/// statement, which is why each new connection of the request pool runs
/// it once before it serves anyone (`warm.rs`).
pub(super) fn token_query(hash: String, now: DateTime<Utc>) -> SelectStatement {
    let mut query = Query::select();
    // The workspace's status comes in the same round trip.
    query.expr_as(
        Expr::col((tenant::Entity, tenant::Column::Status)),
        Alias::new("t_status"),
    );
    token_query_with(query, hash, now)
}

/// [`token_query`]'s agent (`a_`) and credential (`c_`) added to `query`,
/// with its joins and conditions: the workspace's row is joined as
/// `tenants`, for the caller to take what it needs of it.
pub(super) fn token_query_with(mut query: SelectStatement, hash: String, now: DateTime<Utc>) -> SelectStatement {
    prefixed::<agent::Entity>(&mut query, "a_");
    prefixed::<agent_credential::Entity>(&mut query, "c_");
    query
        .from(agent_credential::Entity)
        .join(
            JoinType::InnerJoin,
            tenant::Entity,
            Expr::col((tenant::Entity, tenant::Column::Id))
                .equals((agent_credential::Entity, agent_credential::Column::TenantId)),
        )
        .join(
            JoinType::InnerJoin,
            agent::Entity,
            Expr::col((agent::Entity, agent::Column::Id))
                .equals((agent_credential::Entity, agent_credential::Column::AgentId))
                .and(
                    Expr::col((agent::Entity, agent::Column::TenantId))
                        .equals((agent_credential::Entity, agent_credential::Column::TenantId)),
                ),
        )
        .and_where(Expr::col((agent_credential::Entity, agent_credential::Column::TokenHash)).eq(hash))
        // Deactivating deletes an agent's credentials; this holds even
        // for one written by a request racing the deactivation.
        .and_where(Expr::col((agent::Entity, agent::Column::Active)).eq(true))
        .and_where(
            Expr::col((agent_credential::Entity, agent_credential::Column::ExpiresAt))
                .is_null()
                .or(Expr::col((agent_credential::Entity, agent_credential::Column::ExpiresAt)).gt(now)),
        );
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_slides_only_when_its_expiry_has_fallen_behind() {
        let ttl = Duration::hours(1);
        assert_eq!(slid_expiry(None, ttl), None, "API tokens do not expire");
        assert_eq!(slid_expiry(Some(Utc::now() + ttl), ttl), None);
        let slid = slid_expiry(Some(Utc::now() + Duration::minutes(50)), ttl).unwrap();
        assert!(slid > Utc::now() + Duration::minutes(59));
    }
}
