//! What a rule is handed, as plain JavaScript values. Built with serde_json
//! and `JsValue::from_json`: Boa's own `JSON.parse` costs several times
//! more on a long chat.

use std::cell::Cell;

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::property::PropertyDescriptor;
use boa_engine::{Context, JsNativeError, JsResult, JsValue, NativeFunction, js_string};
use serde_json::{Value, json};
use threadline_plugin_sdk::{Agent, Author, Candidate, Chat, Message, local_time};

use crate::engine::{Failure, failure};

thread_local! {
    /// The chat of the call in progress, for `chat.messages`, which reads
    /// the messages from the host only when a rule asks for them (a subject
    /// rule on a long chat then pays nothing for them).
    static LENT: Cell<Option<*const Chat<'static>>> = const { Cell::new(None) };
}

/// Lends `chat` to `chat.messages` for as long as the guard lives.
pub fn lend(chat: &Chat) -> Lent {
    // The guard is dropped before the hook returns, while `chat` is still
    // borrowed, so the pointer never outlives what it points to.
    LENT.with(|l| l.set(Some((chat as *const Chat<'_>).cast::<Chat<'static>>())));
    Lent
}

pub struct Lent;

impl Drop for Lent {
    fn drop(&mut self) {
        LENT.with(|l| l.set(None));
    }
}

fn js(value: &Value, ctx: &mut Context) -> Result<JsValue, Failure> {
    JsValue::from_json(value, ctx).map_err(|e| failure(format!("the input does not convert: {e}")))
}

fn author(a: Author) -> &'static str {
    match a {
        Author::Visitor => "visitor",
        Author::Agent => "agent",
        Author::System => "system",
    }
}

fn message(m: &Message) -> Value {
    json!({
        "author": author(m.author),
        "author_name": m.author_name,
        "body": m.body,
        "sent_at": m.sent_at,
    })
}

/// `{id, subject, visitor: {name, email}, started_at, message_count,
/// first_visitor_message, messages}`; times in milliseconds since the
/// epoch, `messages` read on first use.
pub fn chat(chat: &Chat, ctx: &mut Context) -> Result<JsValue, Failure> {
    let visitor = chat.visitor();
    let header = json!({
        "id": chat.id(),
        "subject": chat.subject(),
        "visitor": {"name": visitor.name, "email": visitor.email},
        "started_at": chat.started_at(),
        "message_count": chat.message_count(),
        "first_visitor_message": chat.first_visitor_message().as_ref().map(message),
    });
    let value = js(&header, ctx)?;
    let obj = value.as_object().expect("a JSON object converts to an object");
    let getter = FunctionObjectBuilder::new(ctx.realm(), NativeFunction::from_fn_ptr(messages))
        .name(js_string!("messages"))
        .build();
    obj.define_property_or_throw(
        js_string!("messages"),
        PropertyDescriptor::builder()
            .get(getter)
            .enumerable(true)
            .configurable(true),
        ctx,
    )
    .map_err(|e| failure(format!("the input does not convert: {e}")))?;
    Ok(value)
}

/// `chat.messages`: read from the host once, then kept on the object.
fn messages(this: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let lent = LENT
        .with(Cell::get)
        .ok_or_else(|| JsNativeError::error().with_message("chat.messages can only be read while the rule runs"))?;
    // SAFETY: set by `lend` for the duration of the hook call, which this
    // getter runs inside (see `Lent`).
    let chat = unsafe { &*lent };
    let all: Vec<Value> = chat.all_messages().iter().map(message).collect();
    let list = JsValue::from_json(&Value::Array(all), ctx)?;
    if let Some(obj) = this.as_object() {
        obj.define_property_or_throw(
            js_string!("messages"),
            PropertyDescriptor::builder()
                .value(list.clone())
                .writable(true)
                .enumerable(true)
                .configurable(true),
            ctx,
        )?;
    }
    Ok(list)
}

pub fn agent(agent: &Agent, ctx: &mut Context) -> Result<JsValue, Failure> {
    js(&json!({"id": agent.id, "name": agent.name}), ctx)
}

pub fn candidates(candidates: &[Candidate], ctx: &mut Context) -> Result<JsValue, Failure> {
    let list: Vec<Value> = candidates
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "online": c.online,
                "open_tickets": c.open_tickets,
                "skills": c.skills,
                "last_assigned_at": c.last_assigned_at,
            })
        })
        .collect();
    js(&Value::Array(list), ctx)
}

/// `{time_zone, local_time(ms)}`: the workspace's zone, and a moment as its
/// wall clock shows it (there is no clock to read "now" from: every time a
/// rule sees is one the call passes in).
pub fn context(ctx: &threadline_plugin_sdk::Context, js_ctx: &mut Context) -> Result<JsValue, Failure> {
    let value = js(&json!({"time_zone": ctx.time_zone}), js_ctx)?;
    let obj = value.as_object().expect("a JSON object converts to an object");
    let f = FunctionObjectBuilder::new(js_ctx.realm(), NativeFunction::from_fn_ptr(wall_time))
        .name(js_string!("local_time"))
        .length(1)
        .build();
    obj.set(js_string!("local_time"), f, false, js_ctx)
        .map_err(|e| failure(format!("the input does not convert: {e}")))?;
    Ok(value)
}

fn wall_time(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let at = args.first().cloned().unwrap_or_default().to_number(ctx)?;
    if !at.is_finite() {
        return Err(JsNativeError::range()
            .with_message("local_time takes milliseconds since the epoch, such as chat.started_at")
            .into());
    }
    let w = local_time(at as i64);
    JsValue::from_json(
        &json!({
            "year": w.year, "month": w.month, "day": w.day,
            "hour": w.hour, "minute": w.minute, "second": w.second,
            "utc_offset_minutes": w.utc_offset_minutes, "abbreviation": w.abbreviation,
            // 0 is Sunday, as Date.prototype.getDay counts.
            "weekday": weekday(w.year, w.month, w.day),
        }),
        ctx,
    )
}

/// Day of the week of a civil date (0 = Sunday), by Sakamoto's method.
fn weekday(year: i32, month: u8, day: u8) -> u32 {
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let m = usize::from(month.clamp(1, 12)) - 1;
    (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) + T[m] + i32::from(day)).rem_euclid(7) as u32
}
