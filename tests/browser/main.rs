//! The agent console and the visitor widget in headless Chromium (Debian's
//! `chromium` and `chromium-driver`), driven over WebDriver by clicking and
//! typing, against the real server on port 0. Screenshots of the chat with
//! its Convert panel, the ticket page and the widget go to
//! `target/screenshots/`.
//!
//! Every page photographed is also audited with axe-core (the npm package,
//! fetched once with `npm pack` into `target/axe-core-<version>/` and
//! checked against its published SHA-512): no serious or critical
//! violation, one `main` landmark, and on the console a skip link.
//!
//! Without chromedriver (or npm) the test says SKIPPED loudly; with `CI`
//! set it fails instead (`.ci/run` installs the packages).

//! The tests by page: `console.rs` (inbox and chat), `inbox.rs` (views, the
//! longest wait, taking a chat), `widget.rs`,
//! `rules.rs`, `tickets.rs`, `mail.rs` (a message left, answered by e-mail),
//! `team.rs` (the team, invitations, reset), `reports.rs`; `driver.rs` starts Chromium, `axe.rs`
//! photographs and audits, `page.rs` acts as a person would.

mod automations;
mod axe;
mod console;
mod contacts;
mod driver;
mod inbox;
mod mail;
mod page;
mod reports;
mod rules;
mod team;
mod tickets;
mod widget;
