//! The conversion commit's SQL: one statement on PostgreSQL, one script
//! of statements on SQLite (run in one transaction), both in the same order
//! and with the same numbered parameters (`commit_values` in
//! `conversion_commit.rs` lists them):
//!
//! claim the chat (everything after depends on it, so a claim that matches
//! nothing writes nothing and returns no row), find or create the
//! requester, give the visitor the typed email if they had none, take the
//! next number (after the requester, so the counter's row lock is taken
//! last), insert the ticket (its trigger counts it for the assignee) and the
//! system message, and the ticket's search words (its number among them).
//!
//! Raw SQL rather than the query builder because each is one round trip:
//! PostgreSQL's chained `WITH` has no builder form, and on SQLite every
//! statement sent on its own is a hand-off to the connection's thread and
//! back, which cost more than the statements themselves (a `perf` profile
//! of the conversion bench put two fifths of the server's CPU in the
//! scheduler, most of it on that thread).

/// The whole commit on PostgreSQL, the reason and the acknowledgement
/// included. One statement is one transaction: all of it or none. With
/// `$35` set, it also sends the live event (`NOTIFY $35`, its payload
/// `$36`, the number, `$37`), which PostgreSQL delivers when, and only if,
/// the statement commits: a round trip fewer than a `NOTIFY` after it.
pub(super) const COMMIT_POSTGRES: &str = "
WITH claim AS (
    UPDATE chats
    SET ticket_id = $1, status = 'closed', version = version + 1, updated_at = $2,
        closed_at = CASE WHEN $6 THEN closed_at ELSE $2 END
    WHERE id = $3 AND tenant_id = $4 AND ticket_id IS NULL AND version = $5
    RETURNING id
), requester AS (
    INSERT INTO requesters (id, tenant_id, email, email_normalized, name, created_at)
    SELECT $7, $4, $8, $9, $10, $2 FROM claim
    ON CONFLICT (tenant_id, email_normalized) DO UPDATE SET email_normalized = EXCLUDED.email_normalized
    RETURNING id, tenant_id, email, email_normalized, name, created_at
), visitor AS (
    UPDATE visitors SET email = $8
    WHERE $12 AND id = $11 AND tenant_id = $4 AND email IS NULL AND EXISTS (SELECT 1 FROM claim)
), number AS (
    UPDATE tenants SET next_ticket_number = next_ticket_number + 1
    WHERE id = $4 AND EXISTS (SELECT 1 FROM requester)
    RETURNING next_ticket_number - 1 AS n
), ticket AS (
    INSERT INTO tickets (id, tenant_id, number, subject, description, status, assignee_id, requester_id,
                         first_response_at, origin_chat_id, summary, created_at, updated_at,
                         priority, tags, custom_fields, receipt, first_response_due_at, resolution_due_at, due_at)
    SELECT $1, $4, number.n, $13, $14, $15, $16, requester.id, $17, $3, NULL, $2, $2, $20, $21, $22, $23, $28, $29, $30
    FROM number, requester
), log AS (
    INSERT INTO messages (tenant_id, chat_id, kind, author_name, agent_id, body, created_at)
    SELECT $4, $3, 'system', 'System', NULL, $18 || number.n::text || $19, $2 FROM number
), reason AS (
    INSERT INTO ticket_comments (id, tenant_id, ticket_id, author_id, author_name, body, internal, created_at)
    SELECT $25, $4, $1, $26, $27, $24, TRUE, $2 FROM number WHERE $24::text IS NOT NULL
), terms AS (
    INSERT INTO ticket_terms (tenant_id, term, ticket_id)
    SELECT DISTINCT $4, term, $1 FROM number, unnest(string_to_array($31, ' ') || number.n::text) AS term
    ON CONFLICT DO NOTHING
), ack AS (
    INSERT INTO mail_outbox (id, tenant_id, comment_id, to_address, to_name, from_name, subject, body, message_id,
                             state, attempts, next_attempt_at, created_at, kind, ticket_id, thread_references)
    SELECT $32, $4, $32, requester.email, requester.name, '', '', '', $33,
           'queued', 0, $2, $2, 'acknowledgement', $1, ''
    FROM number, requester WHERE $34
)
SELECT number.n AS number, requester.id AS r_id, requester.tenant_id AS r_tenant_id, requester.email AS r_email,
       requester.email_normalized AS r_email_normalized, requester.name AS r_name,
       requester.created_at AS r_created_at,
       CASE WHEN $35::text IS NOT NULL THEN pg_notify($35, $36 || number.n::text || $37) END IS NULL AS silent
FROM number, requester";

/// The events a conversion queues when its workspace listens: a CTE more
/// (with `$38`–`$40`), so that a workspace nobody listens to runs the
/// statement without it, and its planner never opens `events`.
const EVENTS_CTE: &str = "
, events AS (
    INSERT INTO events (id, tenant_id, kind, ticket_id, chat_id, comment_id, changes, actor, rule_id, depth,
                        attempts, next_attempt_at, created_at)
    SELECT e.id, $4, e.kind, $1, $3, NULL, NULL, $38, NULL, 0, 0, $2, $2
    FROM number, (VALUES ($39::text, 'ticket_created'), ($40::text, 'chat_closed')) AS e (id, kind)
    WHERE e.id IS NOT NULL
)";

/// [`COMMIT_POSTGRES`] with [`EVENTS_CTE`] before its final `SELECT`.
pub(super) fn commit_postgres_with_events() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let at = COMMIT_POSTGRES
            .rfind("\nSELECT number.n")
            .expect("the commit ends in its SELECT");
        format!("{}{EVENTS_CTE}{}", &COMMIT_POSTGRES[..at], &COMMIT_POSTGRES[at..])
    })
}

/// The text of [`COMMIT_SQLITE`], as a macro so that `concat!` can frame it.
macro_rules! sqlite_script {
    () => {
        "
UPDATE chats
SET ticket_id = $1, status = 'closed', version = version + 1, updated_at = $2,
    closed_at = CASE WHEN $6 THEN closed_at ELSE $2 END
WHERE id = $3 AND tenant_id = $4 AND ticket_id IS NULL AND version = $5;

INSERT INTO requesters (id, tenant_id, email, email_normalized, name, created_at)
SELECT $7, $4, $8, $9, $10, $2
WHERE EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1)
ON CONFLICT (tenant_id, email_normalized) DO NOTHING;

UPDATE visitors SET email = $8
WHERE $12 AND id = $11 AND tenant_id = $4 AND email IS NULL
  AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1);

UPDATE tenants SET next_ticket_number = next_ticket_number + 1
WHERE id = $4 AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1);

INSERT INTO tickets (id, tenant_id, number, subject, description, status, assignee_id, requester_id,
                     first_response_at, origin_chat_id, summary, created_at, updated_at,
                     priority, tags, custom_fields, receipt, first_response_due_at, resolution_due_at, due_at)
SELECT $1, $4, t.next_ticket_number - 1, $13, $14, $15, $16, r.id, $17, $3, NULL, $2, $2,
       $20, $21, $22, $23, $28, $29, $30
FROM tenants t, requesters r
WHERE t.id = $4 AND r.tenant_id = $4 AND r.email_normalized = $9
  AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1);

INSERT INTO messages (tenant_id, chat_id, kind, author_name, agent_id, body, created_at)
SELECT $4, $3, 'system', 'System', NULL, $18 || (t.next_ticket_number - 1) || $19, $2
FROM tenants t
WHERE t.id = $4 AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1);

INSERT INTO ticket_terms (tenant_id, term, ticket_id)
SELECT $4, j.value, $1
FROM tenants t, json_each(json_insert($31, '$[#]', CAST(t.next_ticket_number - 1 AS TEXT))) AS j
WHERE t.id = $4 AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1)
ON CONFLICT DO NOTHING;

SELECT t.next_ticket_number - 1 AS number, r.id AS r_id, r.tenant_id AS r_tenant_id, r.email AS r_email,
       r.email_normalized AS r_email_normalized, r.name AS r_name, r.created_at AS r_created_at
FROM tenants t, requesters r
WHERE t.id = $4 AND r.tenant_id = $4 AND r.email_normalized = $9
  AND EXISTS (SELECT 1 FROM chats WHERE id = $3 AND ticket_id = $1)"
    };
}

/// The common part of the commit on SQLite, as one script of statements:
/// one hand-off to the connection's thread for all of them, inside a
/// transaction begun `IMMEDIATE` (the writer's lock is held from the start,
/// so nothing runs between the claim and the rest). Each statement after
/// the claim runs only if the chat now carries this ticket's id (`$1`,
/// new), so a claim that matched nothing writes nothing and the final
/// `SELECT` returns no row. `$31` is the search words as a JSON array; the
/// number joins them here. The reason, the acknowledgement and the events
/// follow as statements of their own, when there are any.
pub(super) const COMMIT_SQLITE: &str = sqlite_script!();

/// The same script when the commit writes nothing else (no reason, no
/// acknowledgement, no event heard), with its transaction's `BEGIN
/// IMMEDIATE` and `COMMIT` in the text: the whole commit in one hand-off to
/// the writer's thread instead of three. A failed claim commits a
/// transaction that wrote nothing; a statement that fails stops the script
/// with the transaction open, and the caller rolls it back on the same
/// connection.
pub(super) const COMMIT_SQLITE_ALONE: &str = concat!("BEGIN IMMEDIATE;", sqlite_script!(), ";\nCOMMIT;");
