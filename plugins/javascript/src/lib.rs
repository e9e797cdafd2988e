//! The built-in `javascript` plugin: one component embedding a JavaScript
//! engine (Boa), so that a workspace's rule for any hook is only its source
//! text, set as the hook's `source` setting. No toolchain, no upload.
//!
//! A rule is a function named after its hook: `subject(chat, context)`,
//! `transcript(chat, context)`, `assign(chat, agent, candidates, context)`,
//! `summary(chat, context)`, `fields(chat, context)`. It gets the data the
//! hook's WebAssembly plugins get, as plain objects (internal notes removed
//! by the host), and returns what they return; the host checks its answer
//! as it checks any plugin's.
//!
//! Each call is a fresh instance of a snapshot taken after the engine was
//! built (wasmtime-wizer runs `wizer-initialize`), so a call pays for its
//! rule, not for the engine's start, and nothing passes between calls.

mod engine;
mod input;

use boa_engine::{Context, JsValue};
use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::fields::{Priority, TicketFields};
use threadline_plugin_sdk::{
    Agent, Candidate, Chat, Error, SettingError, assignment, config, fields, subject, summary, transcript,
};

pub use engine::Failure;

/// The setting that holds a rule's source.
pub const SOURCE: &str = "source";

pub struct JavaScript;

/// Runs the rule in `ctx`'s `source` setting: loads it, calls its
/// function with the arguments `args` builds, and reads the answer.
fn run<T>(
    ctx: &threadline_plugin_sdk::Context,
    chat: &Chat,
    function: &str,
    args: impl FnOnce(&mut Context) -> Result<Vec<JsValue>, Failure>,
    answer: impl FnOnce(JsValue, &mut Context) -> Result<T, String>,
) -> Result<T, Error> {
    let source = config(ctx, SOURCE).filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        Error::Setting(SettingError {
            key: SOURCE.into(),
            reason: format!("set it to the rule's JavaScript, a function named {function}"),
        })
    })?;
    engine::seed(&[&chat.id(), function]);
    let mut js = engine::context();
    let _lent = input::lend(chat);
    let result = (|| {
        let f = engine::load(source, function, &mut js)?;
        let mut args = args(&mut js)?;
        args.push(input::context(ctx, &mut js)?);
        let value = engine::call(&f, &args, &mut js)?;
        answer(value, &mut js).map_err(|m| engine::failure(format!("{function}() {m}")))
    })();
    result.map_err(|f| {
        if f.in_source {
            Error::Setting(SettingError {
                key: SOURCE.into(),
                reason: f.located(),
            })
        } else {
            // The stack says where, in the rule's own words.
            Error::Failed(f.message)
        }
    })
}

fn text(value: JsValue, _: &mut Context) -> Result<String, String> {
    match value.as_string() {
        Some(s) => Ok(s.to_std_string_escaped()),
        None => Err(format!("must return a string; it returned {}", kind(&value))),
    }
}

fn kind(value: &JsValue) -> String {
    if value.is_undefined() {
        "undefined (a missing return?)".into()
    } else if value.is_null() {
        "null".into()
    } else {
        value.type_of().to_string()
    }
}

impl subject::Hook for JavaScript {
    fn default_subject(ctx: &threadline_plugin_sdk::Context, chat: &Chat) -> Result<String, Error> {
        run(ctx, chat, "subject", |js| Ok(vec![input::chat(chat, js)?]), text)
    }
}

impl transcript::Hook for JavaScript {
    fn format(ctx: &threadline_plugin_sdk::Context, chat: &Chat) -> Result<String, Error> {
        run(ctx, chat, "transcript", |js| Ok(vec![input::chat(chat, js)?]), text)
    }
}

impl assignment::Hook for JavaScript {
    fn assign(
        ctx: &threadline_plugin_sdk::Context,
        chat: &Chat,
        converting_agent: &Agent,
        candidates: &[Candidate],
    ) -> Result<String, Error> {
        run(
            ctx,
            chat,
            "assign",
            |js| {
                Ok(vec![
                    input::chat(chat, js)?,
                    input::agent(converting_agent, js)?,
                    input::candidates(candidates, js)?,
                ])
            },
            |value, js| {
                // An id, or one of the candidates handed in.
                if let Some(obj) = value.as_object() {
                    let id = obj
                        .get(boa_engine::js_string!("id"), js)
                        .map_err(|_| "returned an object whose id cannot be read".to_owned())?;
                    return text(id, js).map_err(|_| "must return an agent id (or a candidate)".to_owned());
                }
                text(value, js).map_err(|e| format!("{e}: an agent id, such as candidates[0].id"))
            },
        )
    }
}

impl summary::Hook for JavaScript {
    fn summarize(ctx: &threadline_plugin_sdk::Context, chat: &Chat) -> Result<Option<String>, Error> {
        run(
            ctx,
            chat,
            "summary",
            |js| Ok(vec![input::chat(chat, js)?]),
            |value, js| {
                if value.is_null_or_undefined() {
                    Ok(None)
                } else {
                    text(value, js)
                        .map(Some)
                        .map_err(|e| format!("{e} (or null for no summary)"))
                }
            },
        )
    }
}

impl fields::Hook for JavaScript {
    fn fields(ctx: &threadline_plugin_sdk::Context, chat: &Chat) -> Result<TicketFields, Error> {
        run(
            ctx,
            chat,
            "fields",
            |js| Ok(vec![input::chat(chat, js)?]),
            |value, js| {
                let json = value
                    .to_json(js)
                    .map_err(|e| format!("returned something that is not plain data: {e}"))?
                    .unwrap_or(serde_json::Value::Null);
                ticket_fields(&json)
            },
        )
    }
}

/// `{priority, tags, custom}`, each optional.
fn ticket_fields(json: &serde_json::Value) -> Result<TicketFields, String> {
    use serde_json::Value;
    let Value::Object(map) = json else {
        return Err("must return an object such as {priority: 'high', tags: ['vip'], custom: {plan: 'pro'}}".into());
    };
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "priority" | "tags" | "custom"))
    {
        return Err(format!(
            "returned an unknown field {key:?} (priority, tags and custom are known)"
        ));
    }
    let priority = match map.get("priority") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(match p.as_str() {
            "low" => Priority::Low,
            "normal" => Priority::Normal,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            other => {
                return Err(format!(
                    "returned priority {other:?}; it is low, normal, high or urgent"
                ));
            }
        }),
        Some(_) => return Err("returned a priority that is not a string".into()),
    };
    let tags = match map.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tags)) => tags
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or("returned a tag that is not a string")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("returned tags that are not an array of strings".into()),
    };
    let custom = match map.get("custom") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(format!("returned custom field {k:?} that is not a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("returned custom fields that are not an object".into()),
    };
    Ok(TicketFields { priority, tags, custom })
}

impl Describe for JavaScript {
    fn describe() -> Info {
        let mut info = describe::info(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            &["subject", "transcript", "assignment", "summary", "fields"],
        );
        info.settings = vec![describe::text(
            SOURCE,
            None,
            "The rule in JavaScript: a function named after the hook (subject, transcript, assign, summary or \
             fields) that takes the chat and returns the hook's answer.",
        )];
        info
    }
}

/// Checks a rule as the server does before saving it.
pub fn check(source: &str, function: &str) -> Result<(), Failure> {
    let mut js = engine::context();
    engine::load(source, function, &mut js).map(drop)
}

/// Runs a rule on an event, as an automation: `function(event, context)`
/// with both as plain objects; its answer (a list of actions, or nothing)
/// comes back as JSON for the host to check.
pub fn on_event(source: &str, function: &str, event: &str, context: &str) -> Result<String, Failure> {
    let event: serde_json::Value =
        serde_json::from_str(event).map_err(|e| engine::failure(format!("the event does not read: {e}")))?;
    let context: serde_json::Value =
        serde_json::from_str(context).map_err(|e| engine::failure(format!("the context does not read: {e}")))?;
    engine::seed(&[event["id"].as_str().unwrap_or_default(), function]);
    let mut js = engine::context();
    let f = engine::load(source, function, &mut js)?;
    let convert = |v: &serde_json::Value, js: &mut Context| {
        JsValue::from_json(v, js).map_err(|e| engine::failure(format!("the input does not convert: {e}")))
    };
    let args = [convert(&event, &mut js)?, convert(&context, &mut js)?];
    let value = engine::call(&f, &args, &mut js)?;
    let json = value
        .to_json(&mut js)
        .map_err(|e| engine::failure(format!("{function}() returned something that is not plain data: {e}")))?
        .unwrap_or(serde_json::Value::Null);
    Ok(json.to_string())
}

threadline_plugin_sdk::export_plugin!(JavaScript, hooks: [subject, transcript, assignment, summary, fields]);

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "javascript",
    });

    use exports::threadline::javascript::rules::{Guest as Rules, SourceError};

    struct Exports;

    impl Guest for Exports {
        fn wizer_initialize() {
            super::engine::initialize();
        }
    }

    impl Rules for Exports {
        fn check(source: String, function: String) -> Result<(), SourceError> {
            super::check(&source, &function).map_err(|f| SourceError {
                line: f.line.unwrap_or(1),
                column: f.column.unwrap_or(1),
                message: f.message,
            })
        }

        fn on_event(source: String, function: String, event: String, context: String) -> Result<String, String> {
            super::on_event(&source, &function, &event, &context).map_err(|f| f.located())
        }
    }

    export!(Exports);
}

#[cfg(test)]
mod tests;
