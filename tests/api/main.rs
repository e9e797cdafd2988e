//! Integration tests of the HTTP API: the real server on port 0 over a
//! fresh database, SQLite and PostgreSQL. Each module's tests read as the
//! product spec's sentences (`../shared/spec/convert-chat-to-ticket.txt`).

mod auth;
mod authoring;
mod automations;
mod by_hand;
mod canned;
mod chats;
mod comments;
mod concurrency;
mod contract;
mod conversion;
mod cost;
mod edge;
mod erasure;
mod errors;
mod event_rules;
mod events;
mod headers;
mod hosting;
mod inbox;
mod invitations;
mod isolation;
mod javascript;
mod leave_message;
mod mail_imap;
mod mail_in;
mod misbehaving;
mod moderation;
mod moving;
mod nodes;
mod openapi;
mod operations;
mod pagination;
mod password_reset;
mod plugins;
mod privacy;
mod reports;
mod retention;
mod rules;
mod search;
mod sla;
mod team;
mod tenancy;
mod webhooks;
mod work;
