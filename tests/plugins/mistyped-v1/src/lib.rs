//! Exports `threadline:plugin/subject@0.1.0` with a type of its own (its
//! own `wit/`): a string in, a string out. Only a check of the export's
//! type can refuse it at upload.

wit_bindgen::generate!({
    path: "wit",
    world: "threadline:plugin/mistyped@0.1.0",
});

use exports::threadline::plugin::subject::Guest;

struct Mistyped;

impl Guest for Mistyped {
    fn default_subject(subject: String) -> String {
        subject
    }
}

export!(Mistyped);
