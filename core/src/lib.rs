//! Threadline: a help desk server (live chat and tickets) whose headline
//! feature is *convert chat to ticket*, run as a pipeline of hooks.
//!
//! Layout, from the inside out:
//! - [`domain`]: pure types and rules (emails, subjects, ticket numbers,
//!   transcripts, summaries). No I/O; unit-tested in place.
//! - [`store`]: sea-orm entities and queries, SQLite or PostgreSQL. The only
//!   module that knows SQL; every query is scoped by `tenant_id`.
//! - [`conversion`]: the pipeline (snapshot → hooks → validate → commit) and
//!   the hook traits with their built-in implementations.
//! - [`plugins`]: the wasmtime host that runs hooks as sandboxed WebAssembly
//!   components, per workspace, with limits and a failure policy.
//! - [`http`]: axum routers, one per resource, one error type, the OpenAPI
//!   document. The only module that knows HTTP and JSON.
//! - [`realtime`]: the event bus behind the websockets (in memory, or
//!   PostgreSQL LISTEN/NOTIFY across nodes).
//! - [`mail`]: the sender that mails public ticket comments from the
//!   outbox over SMTP; [`inbound`]: what received mail becomes (a ticket,
//!   a comment, or nothing, and why).
//! - [`automation`]: what happens after a change commits: the event
//!   dispatcher (rules' actions, webhook deliveries queued), the webhook
//!   sender, the scheduler of timed rules.
//! - [`server`]: startup and shutdown; [`cli`]: the `threadline` command.

pub mod automation;
pub mod cli;
pub mod client;
pub mod conversion;
pub mod domain;
pub mod http;
pub mod imap;
pub mod inbound;
pub mod mail;
pub mod net;
pub mod plugins;
pub mod realtime;
pub mod retention;
pub mod server;
pub mod store;
