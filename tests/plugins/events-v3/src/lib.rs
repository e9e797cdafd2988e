//! Event hooks of contract 0.3.0, bound with wit-bindgen directly (the
//! SDK binds 0.2.0's conversion hooks). `ticket_created` adds the `tag`
//! setting as a tag and a note naming the ticket, its requester and the
//! zone; `ticket_updated` answers what it was told to by the `on_update`
//! setting (`assign:<id>`), so tests can build a loop; with `fail` set,
//! every hook fails with that text.

wit_bindgen::generate!({
    path: "../../../wit/0.3.0",
    world: "threadline:plugin/event-hooks@0.3.0",
});

use exports::threadline::plugin::events::{Action, Event, Guest};
use threadline::plugin::log::{Level, log};
use threadline::plugin::types::{Context, Error, SettingError};

struct Rules;

fn setting<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn nothing(ctx: &Context) -> Result<Vec<Action>, Error> {
    match setting(ctx, "fail") {
        Some(why) => Err(Error::Failed(why.to_owned())),
        None => Ok(Vec::new()),
    }
}

impl Guest for Rules {
    fn ticket_created(ctx: Context, event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)?;
        let tag = setting(&ctx, "tag").ok_or_else(|| {
            Error::Setting(SettingError {
                key: "tag".into(),
                reason: "set the tag to add".into(),
            })
        })?;
        let ticket = event
            .ticket
            .ok_or_else(|| Error::Failed("no ticket in a ticket event".into()))?;
        let requester = ticket.requester.and_then(|r| r.email).unwrap_or_default();
        log(Level::Info, "tagging", &[("ticket".into(), ticket.number.clone())]);
        Ok(vec![
            Action::AddTags(vec![tag.to_owned()]),
            Action::Note(format!(
                "{} for {requester} in {} ({} bytes of document)",
                ticket.number,
                ctx.time_zone,
                event.document.len()
            )),
        ])
    }

    fn ticket_updated(ctx: Context, _event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)?;
        Ok(
            match setting(&ctx, "on_update").and_then(|s| s.strip_prefix("assign:")) {
                Some(id) => vec![Action::Assign(Some(id.to_owned()))],
                None => Vec::new(),
            },
        )
    }

    fn comment_added(ctx: Context, _event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)
    }

    fn chat_started(ctx: Context, _event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)
    }

    fn chat_closed(ctx: Context, _event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)
    }

    fn sla_breached(ctx: Context, _event: Event) -> Result<Vec<Action>, Error> {
        nothing(&ctx)
    }
}

export!(Rules);
