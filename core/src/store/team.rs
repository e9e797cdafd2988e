//! A workspace's team as its admins run it: invitations, roles,
//! deactivation, availability, and password resets by e-mail.
//!
//! Invitation and reset tokens are 192 random bits stored as SHA-256
//! hashes, like credentials; each is used at most once (an accepted
//! invitation is marked, a used reset deleted, both by a statement whose
//! row count says whether this request was the one that used it).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::credentials::{CredentialKind, Issued, insert_credential, password_update};
use super::entities::{agent, agent_credential, agent_invitation, password_reset, tenant};
use super::outbox::{self, MailKind, NewMail};
use super::tenants::insert_agent;
use super::{Agent, Store, StoreError, StoreResult, new_id, new_token, token_hash};
use crate::domain::EmailAddress;
use crate::domain::hosting::{Quota, Quotas};
use crate::domain::team::{self, Availability, INVITATION_TTL, RESET_TTL, Role};

pub type Invitation = agent_invitation::Model;

/// Invitations a workspace may have pending: enough for any team, and a
/// bound on the mail a hostile admin can send through us.
pub const MAX_PENDING_INVITATIONS: u64 = 100;

/// An invitation is mailed again at most this often.
const RESEND_AFTER: Duration = Duration::seconds(60);

/// Reset mails an agent may be sent an hour: a stranger cannot bury them
/// in mail by asking again and again.
const MAX_RESETS_PER_HOUR: u64 = 3;

/// A change of an agent by an admin.
#[derive(Debug, Default, Clone, Copy)]
pub struct AgentChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl Store {
    /// Invites `email` to the workspace as `role` and queues the mail, in
    /// one transaction. An address that is already an agent's, or already
    /// invited (pending or expired: resend it), is a conflict.
    pub async fn invite(
        &self,
        inviter: &Agent,
        email: &EmailAddress,
        name: Option<String>,
        role: Role,
        public_url: &str,
    ) -> StoreResult<Invitation> {
        let txn = self.write_txn().await?;
        let workspace = locked_workspace(&txn, &inviter.tenant_id).await?;
        let quotas = self.quotas_of(&workspace);
        let (invitation, _token) = insert_invitation(
            &txn,
            &workspace,
            &quotas,
            NewInvitation {
                email,
                name,
                role,
                invited_by: &inviter.id,
                inviter_name: &inviter.name,
            },
            public_url,
        )
        .await?;
        txn.commit().await?;
        Ok(invitation)
    }

    /// The workspace's invitations not yet accepted, newest first (expired
    /// ones too, so an admin can resend them).
    pub async fn invitations(&self, tenant_id: &str) -> StoreResult<Vec<Invitation>> {
        Ok(agent_invitation::Entity::find()
            .filter(agent_invitation::Column::TenantId.eq(tenant_id))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .order_by_desc(agent_invitation::Column::CreatedAt)
            .order_by_desc(agent_invitation::Column::Id)
            .limit(MAX_PENDING_INVITATIONS)
            .all(&self.db)
            .await?)
    }

    /// Mails a pending invitation again with a new link (the old one stops
    /// working) valid for a new week; at most once a minute.
    pub async fn resend_invitation(&self, sender: &Agent, id: &str, public_url: &str) -> StoreResult<Invitation> {
        let txn = self.write_txn().await?;
        let found = agent_invitation::Entity::find_by_id(id)
            .filter(agent_invitation::Column::TenantId.eq(&sender.tenant_id))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = Utc::now().trunc_subsecs(6);
        if now - found.sent_at < RESEND_AFTER {
            return Err(StoreError::Conflict(
                "this invitation was mailed less than a minute ago; give it a moment to arrive".into(),
            ));
        }
        let (token, hash) = new_token("tli");
        let mut invitation: agent_invitation::ActiveModel = found.into();
        invitation.token_hash = Set(hash);
        invitation.sent_at = Set(now);
        invitation.expires_at = Set(now + INVITATION_TTL);
        let invitation = invitation.update(&txn).await?;
        let workspace = workspace(&txn, &sender.tenant_id).await?;
        queue_invitation(&txn, &workspace, &invitation, &sender.name, &token, public_url).await?;
        txn.commit().await?;
        Ok(invitation)
    }

    /// Revokes a pending invitation: its link stops working.
    pub async fn revoke_invitation(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let done = agent_invitation::Entity::delete_many()
            .filter(agent_invitation::Column::Id.eq(id))
            .filter(agent_invitation::Column::TenantId.eq(tenant_id))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .exec(&self.writer)
            .await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The invitation a token opens, if it is pending and unexpired.
    pub async fn open_invitation(&self, token: &str) -> StoreResult<Invitation> {
        agent_invitation::Entity::find()
            .filter(agent_invitation::Column::TokenHash.eq(token_hash(token)))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .filter(agent_invitation::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Accepts the invitation `token` opens: marks it used, makes the agent
    /// with `password_hash`, and signs them in, in one transaction. A
    /// token used, revoked or expired (or used by a request racing this
    /// one) is `NotFound`, and nothing is made.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &str,
        password_hash: &str,
        session_expires_at: DateTime<Utc>,
    ) -> StoreResult<(Agent, Issued)> {
        let txn = self.write_txn().await?;
        let now = Utc::now().trunc_subsecs(6);
        let invitation = agent_invitation::Entity::find()
            .filter(agent_invitation::Column::TokenHash.eq(token_hash(token)))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .filter(agent_invitation::Column::ExpiresAt.gt(now))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let used = agent_invitation::Entity::update_many()
            .col_expr(agent_invitation::Column::AcceptedAt, Expr::value(now))
            .filter(agent_invitation::Column::Id.eq(&invitation.id))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .exec(&txn)
            .await?;
        if used.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        let email = EmailAddress::parse("email", &invitation.email)
            .map_err(|e| StoreError::Conflict(format!("the invitation's address is not usable: {}", e.message)))?;
        let is_admin = invitation.role == Role::Admin.as_str();
        let workspace = locked_workspace(&txn, &invitation.tenant_id).await?;
        self.quotas_of(&workspace)
            .check(Quota::Agents, active_agents(&txn, &workspace.id).await?, 1)?;
        let agent = insert_agent(&txn, &invitation.tenant_id, name, &email, is_admin).await?;
        txn.execute(&password_update(&agent.tenant_id, &agent.id, password_hash))
            .await?;
        let issued = insert_credential(
            &txn,
            &agent,
            CredentialKind::Session,
            "invitation",
            Some(session_expires_at),
        )
        .await?;
        txn.commit().await?;
        Ok((agent, issued))
    }

    /// Queues a reset mail for the active agent `email` of workspace
    /// `slug`, if there is one and they were sent fewer than three this
    /// hour; otherwise does nothing, and says nothing either way.
    pub async fn request_password_reset(&self, slug: &str, email: &str, public_url: &str) -> StoreResult<()> {
        let Some(account) = self.account(slug, email).await? else {
            return Ok(());
        };
        let agent = account.agent;
        if !agent.active {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        if self.backend() == DbBackend::Postgres {
            // Requests for one agent take turns, so that two at once
            // cannot both find room under the hourly cap (SQLite has one
            // writer).
            agent::Entity::find_by_id(&agent.id).lock_exclusive().one(&txn).await?;
        }
        let now = Utc::now().trunc_subsecs(6);
        password_reset::Entity::delete_many()
            .filter(password_reset::Column::AgentId.eq(&agent.id))
            .filter(password_reset::Column::CreatedAt.lt(now - RESET_TTL))
            .exec(&txn)
            .await?;
        let recent = password_reset::Entity::find()
            .filter(password_reset::Column::AgentId.eq(&agent.id))
            .count(&txn)
            .await?;
        if recent >= MAX_RESETS_PER_HOUR {
            txn.commit().await?;
            tracing::info!(agent = %agent.id, "password reset not mailed: three this hour already");
            return Ok(());
        }
        let (token, hash) = new_token("tlr");
        password_reset::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(agent.tenant_id.clone()),
            agent_id: Set(agent.id.clone()),
            token_hash: Set(hash),
            created_at: Set(now),
            expires_at: Set(now + RESET_TTL),
        }
        .insert(&txn)
        .await?;
        let workspace = workspace(&txn, &agent.tenant_id).await?;
        let link = team::console_link(public_url, "reset", &token);
        let m = team::password_reset(&workspace.name, &link);
        let mail = NewMail {
            kind: MailKind::PasswordReset,
            comment_id: None,
            to_address: agent.email.clone(),
            to_name: agent.name.clone(),
            from_name: outbox::sender_name(&workspace).to_owned(),
            subject: m.subject,
            body: m.body,
            message_id: format!("<{}@threadline.invalid>", new_id()),
            thread: None,
        };
        outbox::queue(&txn, &workspace, mail).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The agent a reset token is for, if it is unused, unexpired and the
    /// agent active.
    pub async fn open_password_reset(&self, token: &str) -> StoreResult<Agent> {
        let reset = password_reset::Entity::find()
            .filter(password_reset::Column::TokenHash.eq(token_hash(token)))
            .filter(password_reset::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?;
        let agent = self.agent(&reset.tenant_id, &reset.agent_id).await?;
        if !agent.active {
            return Err(StoreError::NotFound);
        }
        Ok(agent)
    }

    /// Uses a reset token: sets the password, ends every session of the
    /// agent and every other reset of theirs, and starts a new session, in
    /// one transaction. Returns the agent, the new session and the ids of
    /// the sessions ended.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        password_hash: &str,
        session_expires_at: DateTime<Utc>,
    ) -> StoreResult<(Agent, Issued, Vec<String>)> {
        let txn = self.write_txn().await?;
        let now = Utc::now().trunc_subsecs(6);
        let reset = password_reset::Entity::find()
            .filter(password_reset::Column::TokenHash.eq(token_hash(token)))
            .filter(password_reset::Column::ExpiresAt.gt(now))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let used = password_reset::Entity::delete_many()
            .filter(password_reset::Column::Id.eq(&reset.id))
            .exec(&txn)
            .await?;
        if used.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        let agent = agent::Entity::find_by_id(&reset.agent_id)
            .filter(agent::Column::TenantId.eq(&reset.tenant_id))
            .filter(agent::Column::Active.eq(true))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        password_reset::Entity::delete_many()
            .filter(password_reset::Column::AgentId.eq(&agent.id))
            .exec(&txn)
            .await?;
        txn.execute(&password_update(&agent.tenant_id, &agent.id, password_hash))
            .await?;
        let ended = delete_credentials(&txn, &agent, Some(CredentialKind::Session)).await?;
        let issued = insert_credential(
            &txn,
            &agent,
            CredentialKind::Session,
            "password reset",
            Some(session_expires_at),
        )
        .await?;
        txn.commit().await?;
        Ok((agent, issued, ended))
    }

    /// Changes an agent's role or active state. The workspace's last active
    /// admin can be neither demoted nor deactivated (a conflict); changes
    /// of one workspace's agents take turns (its row is locked on
    /// PostgreSQL; SQLite has one writer), so two admins demoting each
    /// other at once cannot both succeed. Deactivating ends the agent's
    /// sessions and API tokens (their ids are returned, for the sockets),
    /// pending resets, and their availability.
    pub async fn change_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        change: AgentChange,
    ) -> StoreResult<(Agent, Vec<String>)> {
        let txn = self.write_txn().await?;
        let workspace = locked_workspace(&txn, tenant_id).await?;
        let found = agent::Entity::find_by_id(agent_id)
            .filter(agent::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let is_admin = change.role.map_or(found.is_admin, |r| r == Role::Admin);
        let active = change.active.unwrap_or(found.active);
        if active && !found.active {
            self.quotas_of(&workspace)
                .check(Quota::Agents, active_agents(&txn, tenant_id).await?, 1)?;
        }
        if found.is_admin && found.active && !(is_admin && active) {
            let other_admins = agent::Entity::find()
                .filter(agent::Column::TenantId.eq(tenant_id))
                .filter(agent::Column::IsAdmin.eq(true))
                .filter(agent::Column::Active.eq(true))
                .filter(agent::Column::Id.ne(agent_id))
                .count(&txn)
                .await?;
            if other_admins == 0 {
                return Err(StoreError::Conflict(format!(
                    "{} is the workspace's last active admin; make someone else an admin first",
                    found.name
                )));
            }
        }
        let mut row: agent::ActiveModel = found.clone().into();
        row.is_admin = Set(is_admin);
        row.active = Set(active);
        let mut ended = Vec::new();
        if found.active && !active {
            row.availability = Set(Availability::Offline.as_str().to_owned());
            ended = delete_credentials(&txn, &found, None).await?;
            password_reset::Entity::delete_many()
                .filter(password_reset::Column::AgentId.eq(agent_id))
                .exec(&txn)
                .await?;
        }
        let agent = row.update(&txn).await?;
        txn.commit().await?;
        Ok((agent, ended))
    }

    /// Sets what the agent says of their availability (and notes them as
    /// seen: saying so is activity).
    pub async fn set_availability(&self, agent: &Agent, availability: Availability) -> StoreResult<Agent> {
        agent::Entity::update_many()
            .col_expr(agent::Column::Availability, Expr::value(availability.as_str()))
            .col_expr(agent::Column::LastSeenAt, Expr::value(Utc::now()))
            .filter(agent::Column::Id.eq(&agent.id))
            .filter(agent::Column::TenantId.eq(&agent.tenant_id))
            .exec(&self.writer)
            .await?;
        self.agent(&agent.tenant_id, &agent.id).await
    }

    /// Whether someone of the workspace with widget key `key` is online
    /// now (said so, and seen within [`team::QUIET_AFTER`]): one indexed
    /// lookup of at most one row.
    pub async fn someone_available(&self, tenant_id: &str) -> StoreResult<bool> {
        let found = agent::Entity::find()
            .select_only()
            .column(agent::Column::Id)
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::Active.eq(true))
            .filter(agent::Column::Availability.eq(Availability::Online.as_str()))
            .filter(agent::Column::LastSeenAt.gte(Utc::now() - team::QUIET_AFTER))
            .limit(1)
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }
}

/// The workspace's row, in `txn`.
async fn workspace(txn: &sea_orm::DatabaseTransaction, tenant_id: &str) -> StoreResult<tenant::Model> {
    tenant::Entity::find_by_id(tenant_id)
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The workspace's row, locked for the rest of `txn` on PostgreSQL, so
/// that writes counted against one of its quotas take turns (SQLite has
/// one writer).
pub(super) async fn locked_workspace(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: &str,
) -> StoreResult<tenant::Model> {
    let mut find = tenant::Entity::find_by_id(tenant_id);
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    find.one(txn).await?.ok_or(StoreError::NotFound)
}

/// Who is invited, and by whom.
pub(super) struct NewInvitation<'a> {
    pub email: &'a EmailAddress,
    pub name: Option<String>,
    pub role: Role,
    /// An agent's id, or `operator` for a workspace's first admin.
    pub invited_by: &'a str,
    /// As the mail names them.
    pub inviter_name: &'a str,
}

/// Inserts an invitation and queues its mail in `txn`; returns it with the
/// token its link carries. An address that is already an agent's, or
/// already invited (pending or expired: resend it), is a conflict; so is a
/// workspace at its cap of pending invitations, and one whose agents and
/// pending invitations together fill its `agents` quota.
pub(super) async fn insert_invitation(
    txn: &sea_orm::DatabaseTransaction,
    workspace: &tenant::Model,
    quotas: &Quotas,
    new: NewInvitation<'_>,
    public_url: &str,
) -> StoreResult<(Invitation, String)> {
    let tenant_id = &workspace.id;
    let email = new.email;
    let taken = agent::Entity::find()
        .filter(agent::Column::TenantId.eq(tenant_id))
        .filter(agent::Column::EmailNormalized.eq(email.normalized()))
        .count(txn)
        .await?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "{} is already an agent of this workspace",
            email.as_str()
        )));
    }
    let now = Utc::now().trunc_subsecs(6);
    let pending = agent_invitation::Entity::find()
        .filter(agent_invitation::Column::TenantId.eq(tenant_id))
        .filter(agent_invitation::Column::AcceptedAt.is_null())
        .count(txn)
        .await?;
    if pending >= MAX_PENDING_INVITATIONS {
        return Err(StoreError::Conflict(format!(
            "a workspace may have at most {MAX_PENDING_INVITATIONS} invitations pending; revoke some first"
        )));
    }
    if quotas.agents.is_some() {
        let live = agent_invitation::Entity::find()
            .filter(agent_invitation::Column::TenantId.eq(tenant_id))
            .filter(agent_invitation::Column::AcceptedAt.is_null())
            .filter(agent_invitation::Column::ExpiresAt.gt(now))
            .count(txn)
            .await?;
        quotas.check(Quota::Agents, active_agents(txn, tenant_id).await? + live, 1)?;
    }
    let (token, hash) = new_token("tli");
    let inserted = agent_invitation::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant_id.clone()),
        email: Set(email.as_str().to_owned()),
        email_normalized: Set(email.normalized().to_owned()),
        name: Set(new.name),
        role: Set(new.role.as_str().to_owned()),
        token_hash: Set(hash),
        invited_by: Set(new.invited_by.to_owned()),
        created_at: Set(now),
        sent_at: Set(now),
        expires_at: Set(now + INVITATION_TTL),
        accepted_at: Set(None),
    }
    .insert(txn)
    .await;
    let invitation = match inserted {
        Ok(i) => i,
        Err(e) if e.sql_err().is_some() => {
            return Err(StoreError::Conflict(format!(
                "{} is invited already; resend or revoke that invitation",
                email.as_str()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    queue_invitation(txn, workspace, &invitation, new.inviter_name, &token, public_url).await?;
    Ok((invitation, token))
}

/// The workspace's active agents, as the `agents` quota counts them.
pub(super) async fn active_agents(txn: &sea_orm::DatabaseTransaction, tenant_id: &str) -> StoreResult<u64> {
    Ok(agent::Entity::find()
        .filter(agent::Column::TenantId.eq(tenant_id))
        .filter(agent::Column::Active.eq(true))
        .count(txn)
        .await?)
}

/// Queues the mail of `invitation`, whose link carries `token`.
async fn queue_invitation(
    txn: &sea_orm::DatabaseTransaction,
    workspace: &tenant::Model,
    invitation: &Invitation,
    inviter: &str,
    token: &str,
    public_url: &str,
) -> StoreResult<()> {
    let link = team::console_link(public_url, "invitation", token);
    let m = team::invitation(&workspace.name, inviter, &link, invitation.expires_at);
    let mail = NewMail {
        kind: MailKind::Invitation,
        comment_id: None,
        to_address: invitation.email.clone(),
        to_name: invitation.name.clone().unwrap_or_default(),
        from_name: outbox::sender_name(workspace).to_owned(),
        subject: m.subject,
        body: m.body,
        message_id: format!("<{}@threadline.invalid>", new_id()),
        thread: None,
    };
    outbox::queue(txn, workspace, mail).await?;
    Ok(())
}

/// Deletes an agent's credentials (of `kind`, or all) in `txn`; returns
/// their ids, so the sockets opened with them can be closed.
async fn delete_credentials(
    txn: &sea_orm::DatabaseTransaction,
    agent: &Agent,
    kind: Option<CredentialKind>,
) -> StoreResult<Vec<String>> {
    let mut find = agent_credential::Entity::find()
        .select_only()
        .column(agent_credential::Column::Id)
        .filter(agent_credential::Column::AgentId.eq(&agent.id))
        .filter(agent_credential::Column::TenantId.eq(&agent.tenant_id));
    if let Some(kind) = kind {
        find = find.filter(agent_credential::Column::Kind.eq(kind.as_str()));
    }
    let ids: Vec<String> = find.into_tuple().all(txn).await?;
    if !ids.is_empty() {
        agent_credential::Entity::delete_many()
            .filter(agent_credential::Column::Id.is_in(ids.clone()))
            .exec(txn)
            .await?;
    }
    Ok(ids)
}
