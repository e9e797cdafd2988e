//! Exports `threadline:plugin/events@0.3.0` with types of its own (its own
//! `wit/`): every event hook takes a string and returns it. Only a check of
//! the exports' types can refuse it at upload.

wit_bindgen::generate!({
    path: "wit",
    world: "threadline:plugin/mistyped@0.3.0",
});

use exports::threadline::plugin::events::Guest;

struct Mistyped;

impl Guest for Mistyped {
    fn ticket_created(event: String) -> String {
        event
    }
    fn ticket_updated(event: String) -> String {
        event
    }
    fn comment_added(event: String) -> String {
        event
    }
    fn chat_started(event: String) -> String {
        event
    }
    fn chat_closed(event: String) -> String {
        event
    }
    fn sla_breached(event: String) -> String {
        event
    }
}

export!(Mistyped);
