//! Exports `threadline:plugin/subject@0.2.0` with 0.1.0's parameter types
//! (its own `wit/`): it compiles, links and has the hook's name, so only a
//! check of the export's type can refuse it at upload.

wit_bindgen::generate!({
    path: "wit",
    world: "threadline:plugin/mistyped@0.2.0",
});

use exports::threadline::plugin::subject::{ChatHeader, Context, Guest};

struct Mistyped;

impl Guest for Mistyped {
    fn default_subject(_ctx: Context, chat: ChatHeader) -> Result<String, String> {
        Ok(format!("Chat {}", chat.id))
    }
}

export!(Mistyped);
