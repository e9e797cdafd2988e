//! `threadline tenant …` and `threadline agent …`: workspaces and agents
//! from the server's shell. They print JSON, so scripts can use them; the
//! tokens in it are shown only this once.

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::{DbArgs, print_json};
use crate::domain::password::Password;
use crate::domain::{EmailAddress, single_line};
use crate::store::Store;

#[derive(Subcommand)]
pub(super) enum TenantCommand {
    /// Create a workspace and its first admin agent.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_name: String,
        #[arg(long)]
        admin_email: String,
        /// Read the admin's password (one line) from standard input, so it
        /// can sign in to the console; without it, only the printed API token
        /// works until a password is set with `agent set-password`.
        #[arg(long)]
        admin_password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
pub(super) enum OperatorTokenCommand {
    /// Make a token for the operator API (`/api/operator/v1`); it is
    /// printed this once and stored hashed.
    Create {
        /// What it is for, unique: e.g. "billing".
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke the operator token of this name: it gets 401 from now on.
    Revoke {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
pub(super) enum AgentCommand {
    /// Add an agent to a workspace.
    Create {
        /// The workspace's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Make the agent a workspace admin.
        #[arg(long)]
        admin: bool,
        /// A skill assignment plugins may match on (repeat for several).
        #[arg(long = "skill")]
        skills: Vec<String>,
        /// Read the agent's password (one line) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set (or reset) an agent's password, read as one line from standard
    /// input. The agent's sessions end; API tokens keep working.
    SetPassword {
        /// The workspace's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// One line of standard input: a password, checked and hashed.
fn password_from_stdin(field: &'static str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(Password::parse(field, line)?.hash())
}

pub(super) async fn tenant(command: TenantCommand) -> Result<()> {
    match command {
        TenantCommand::Create {
            name,
            admin_name,
            admin_email,
            admin_password_stdin,
            db,
        } => {
            let name = single_line("name", &name, 100)?;
            let admin_name = single_line("admin-name", &admin_name, 100)?;
            let email = EmailAddress::parse("admin-email", &admin_email)?;
            let password = admin_password_stdin
                .then(|| password_from_stdin("admin password"))
                .transpose()?;
            let store = Store::connect(&db.database_url).await?;
            let created = store.create_tenant(&name, &admin_name, &email).await?;
            if let Some(hash) = password {
                store
                    .set_password(&created.tenant.id, &created.admin.agent.id, &hash)
                    .await?;
            }
            print_json(&json!({
                "tenant_id": created.tenant.id,
                "slug": created.tenant.slug,
                "widget_key": created.tenant.widget_key,
                "admin_agent_id": created.admin.agent.id,
                "admin_token": created.admin.token,
            }));
            Ok(())
        }
    }
}

pub(super) async fn operator_token(command: OperatorTokenCommand) -> Result<()> {
    match command {
        OperatorTokenCommand::Create { name, db } => {
            let name = single_line("name", &name, 100)?;
            let store = Store::connect(&db.database_url).await?;
            let (row, token) = store.create_operator_token(&name).await?;
            print_json(&json!({ "id": row.id, "name": row.name, "token": token }));
            Ok(())
        }
        OperatorTokenCommand::Revoke { name, db } => {
            let store = Store::connect(&db.database_url).await?;
            store
                .revoke_operator_token(&name)
                .await
                .with_context(|| format!("no operator token called {name:?}"))?;
            print_json(&json!({ "revoked": name }));
            Ok(())
        }
    }
}

pub(super) async fn agent(command: AgentCommand) -> Result<()> {
    match command {
        AgentCommand::Create {
            tenant,
            name,
            email,
            admin,
            skills,
            password_stdin,
            db,
        } => {
            let skills = skills
                .iter()
                .map(|s| single_line("skill", s, 64))
                .collect::<Result<Vec<_>, _>>()?;
            let name = single_line("name", &name, 100)?;
            let email = EmailAddress::parse("email", &email)?;
            let password = password_stdin.then(|| password_from_stdin("password")).transpose()?;
            let store = Store::connect(&db.database_url).await?;
            let tenant = store
                .tenant_by_slug(&tenant)
                .await
                .with_context(|| format!("no workspace with slug {tenant:?}"))?;
            let created = store.create_agent(&tenant.id, &name, &email, admin).await?;
            store.set_agent_skills(&tenant.id, &created.agent.id, &skills).await?;
            if let Some(hash) = password {
                store.set_password(&tenant.id, &created.agent.id, &hash).await?;
            }
            print_json(&json!({
                "agent_id": created.agent.id,
                "token": created.token,
                "admin": created.agent.is_admin,
                "skills": skills,
            }));
            Ok(())
        }
        AgentCommand::SetPassword { tenant, email, db } => {
            let email = EmailAddress::parse("email", &email)?;
            let hash = password_from_stdin("password")?;
            let store = Store::connect(&db.database_url).await?;
            let account = store
                .account(&tenant, email.normalized())
                .await?
                .with_context(|| format!("no agent {} in a workspace with slug {tenant:?}", email.as_str()))?;
            let agent = account.agent;
            store.set_password(&agent.tenant_id, &agent.id, &hash).await?;
            let ended = store.end_sessions(&agent.tenant_id, &agent.id, None).await?;
            print_json(&json!({ "agent_id": agent.id, "sessions_ended": ended.len() }));
            Ok(())
        }
    }
}
