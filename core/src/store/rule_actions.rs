//! Rules' actions, applied under the workspace's rights in the transaction
//! that takes their event off the queue (or, for a timed rule, that writes
//! its mark): the event is handled once, and its actions with it. Each
//! action goes through the same writes an agent's change does, in the
//! rule's name (`Rule: <name>` in the activity, `rule:<id>` as its id), and
//! the events it causes carry the rule one level deeper.

use sea_orm::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QuerySelect};

use super::entities::{requester, schedule_mark, ticket};
use super::events::{Doer, NewEvent};
use super::tickets::{TicketChange, change_ticket_in};
use super::{Automation, NewMessage, QueuedEvent, Store, StoreError, StoreResult, Ticket, Webhook};
use crate::domain::automation::{Action, EventKind, ReplyVariables, fill};
use crate::domain::hooks::TicketFields;
use crate::domain::{MessageKind, TicketNumber, TicketStatus};

/// What a rule's actions act on.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Ticket(&'a str),
    Chat(&'a str),
}

/// One rule's answer to apply.
#[derive(Debug, Clone)]
pub struct RuleRun {
    pub rule: Automation,
    pub actions: Vec<Action>,
}

/// How one action went.
#[derive(Debug, Clone)]
pub struct Applied {
    pub rule_id: String,
    pub rule_name: String,
    pub action: &'static str,
    /// `Err`: refused (the reason, for the rule's log), nothing written.
    pub outcome: Result<(), String>,
}

/// The name a rule acts under.
pub fn rule_name(rule: &Automation) -> String {
    format!("Rule: {}", rule.name)
}

/// Applies `run` to `target` in `txn`, each action on its own: one that
/// the workspace's data refuses (an assignee who is not an agent of it, a
/// closed ticket) is reported and the others still apply. `depth` is the
/// depth of the event the rule answered.
async fn apply(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    tenant_id: &str,
    target: Target<'_>,
    run: &RuleRun,
    depth: i32,
) -> StoreResult<Vec<Applied>> {
    let name = rule_name(&run.rule);
    let by = Doer {
        id: &run.rule.id,
        name: &name,
        rule: Some((&run.rule.id, depth + 1)),
    };
    let mut out = Vec::with_capacity(run.actions.len());
    for action in &run.actions {
        let outcome = match target {
            Target::Ticket(id) => on_ticket(txn, backend, tenant_id, id, by, action).await,
            Target::Chat(id) => on_chat(txn, tenant_id, id, &name, action).await,
        };
        let outcome = match outcome {
            Ok(()) => Ok(()),
            Err(StoreError::Invalid(_, m) | StoreError::Conflict(m)) => Err(m),
            Err(StoreError::NotFound) => Err("its ticket or chat is gone".to_owned()),
            Err(e) => return Err(e),
        };
        out.push(Applied {
            rule_id: run.rule.id.clone(),
            rule_name: run.rule.name.clone(),
            action: action.name(),
            outcome,
        });
    }
    Ok(out)
}

async fn ticket_row(txn: &DatabaseTransaction, backend: DbBackend, tenant_id: &str, id: &str) -> StoreResult<Ticket> {
    let mut find = ticket::Entity::find_by_id(id).filter(ticket::Column::TenantId.eq(tenant_id));
    if backend == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    find.one(txn).await?.ok_or(StoreError::NotFound)
}

async fn on_ticket(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    tenant_id: &str,
    id: &str,
    by: Doer<'_>,
    action: &Action,
) -> StoreResult<()> {
    // Read again for each action: the one before may have changed it.
    let t = ticket_row(txn, backend, tenant_id, id).await?;
    let fields = |tags: Vec<String>| {
        let custom: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&t.custom_fields).unwrap_or_default();
        TicketFields {
            priority: None,
            tags,
            custom: custom
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                .collect(),
        }
    };
    let change = match action {
        Action::SetStatus(s) => TicketChange {
            status: Some(*s),
            ..Default::default()
        },
        Action::SetPriority(p) => TicketChange {
            priority: Some(*p),
            ..Default::default()
        },
        Action::Assign(a) => TicketChange {
            assignee_id: Some(a.clone()),
            ..Default::default()
        },
        Action::SetTags(tags) => TicketChange {
            fields: Some(fields(tags.clone())),
            ..Default::default()
        },
        Action::AddTags(more) => {
            let mut tags: Vec<String> = serde_json::from_str(&t.tags).unwrap_or_default();
            for tag in more {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            if tags.len() > crate::domain::hooks::validate::MAX_TAGS {
                return Err(StoreError::Conflict("the ticket would have too many tags".into()));
            }
            TicketChange {
                fields: Some(fields(tags)),
                ..Default::default()
            }
        }
        Action::Note(body) | Action::Reply(body) => {
            if t.status == TicketStatus::Closed.as_str() {
                return Err(StoreError::Conflict(format!(
                    "ticket {} is closed and takes no more comments",
                    TicketNumber(t.number)
                )));
            }
            let public = matches!(action, Action::Reply(_));
            let body = if public {
                let r = requester::Entity::find_by_id(&t.requester_id)
                    .filter(requester::Column::TenantId.eq(tenant_id))
                    .one(txn)
                    .await?;
                let number = TicketNumber(t.number).to_string();
                fill(
                    body,
                    &ReplyVariables {
                        requester_name: r.as_ref().map_or("", |r| r.name.as_str()),
                        ticket_number: &number,
                        ticket_subject: &t.subject,
                    },
                )
            } else {
                body.clone()
            };
            super::comments::write_comment(txn, &t, by, &body, !public).await?;
            return Ok(());
        }
    };
    change_ticket_in(txn, t, by, &change).await?;
    Ok(())
}

async fn on_chat(txn: &DatabaseTransaction, tenant_id: &str, id: &str, name: &str, action: &Action) -> StoreResult<()> {
    let (kind, body) = match action {
        Action::Reply(body) => (MessageKind::Agent, body),
        Action::Note(body) => (MessageKind::InternalNote, body),
        other => {
            return Err(StoreError::Conflict(format!(
                "{} acts on tickets; a rule on a chat may reply or note",
                other.name()
            )));
        }
    };
    let new = NewMessage {
        kind,
        author_name: name.to_owned(),
        // No agent: the chat keeps its assignee and its first response
        // time for a person's answer.
        agent_id: None,
        body: body.clone(),
    };
    super::chats::post_message_in(txn, tenant_id, id, &new).await?;
    Ok(())
}

impl Store {
    /// Handles claimed event `e` in one transaction: takes it off the queue,
    /// applies `runs` to what it is about, queues `body` for `hooks`.
    /// `None` when the event is no longer this dispatcher's (nothing
    /// written).
    pub async fn finish_event(
        &self,
        e: &QueuedEvent,
        runs: &[RuleRun],
        hooks: &[Webhook],
        body: &str,
    ) -> StoreResult<Option<Vec<Applied>>> {
        let txn = self.write_txn().await?;
        if !super::events::take(&txn, e).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        let target = match (&e.ticket_id, &e.chat_id) {
            (Some(t), _) => Some(Target::Ticket(t)),
            (None, Some(c)) => Some(Target::Chat(c)),
            _ => None,
        };
        let mut applied = Vec::new();
        if let Some(target) = target {
            for run in runs {
                applied.extend(apply(&txn, self.backend(), &e.tenant_id, target, run, e.depth).await?);
            }
        }
        super::deliveries::queue(&txn, e, hooks, body).await?;
        txn.commit().await?;
        Ok(Some(applied))
    }

    /// Applies timed rule `run` to `target` once: under `mark` (what it did
    /// and when; a second call with the same mark does nothing and answers
    /// `None`), in one transaction with the mark.
    pub async fn apply_scheduled(
        &self,
        tenant_id: &str,
        mark: &str,
        target: Target<'_>,
        run: &RuleRun,
    ) -> StoreResult<Option<Vec<Applied>>> {
        let txn = self.write_txn().await?;
        if !write_mark(&txn, tenant_id, mark).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        let applied = apply(&txn, self.backend(), tenant_id, target, run, 0).await?;
        txn.commit().await?;
        Ok(Some(applied))
    }

    /// Queues ticket `ticket_id`'s `sla_breached` event once per `mark`.
    pub async fn breach_once(&self, tenant_id: &str, ticket_id: &str, mark: &str) -> StoreResult<bool> {
        let txn = self.write_txn().await?;
        if !write_mark(&txn, tenant_id, mark).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        super::events::queue(
            &txn,
            tenant_id,
            NewEvent::new(EventKind::SlaBreached, "schedule").ticket(ticket_id),
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// Writes `key`; false when it was written before.
async fn write_mark(txn: &DatabaseTransaction, tenant_id: &str, key: &str) -> StoreResult<bool> {
    let inserted = schedule_mark::Entity::insert(schedule_mark::ActiveModel {
        key: Set(key.to_owned()),
        tenant_id: Set(tenant_id.to_owned()),
        created_at: Set(chrono::Utc::now()),
    })
    .on_conflict(OnConflict::column(schedule_mark::Column::Key).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    Ok(inserted == 1)
}
