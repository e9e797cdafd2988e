//! The JavaScript engine (Boa) as a rule runs in it: one context built
//! ahead of time, per-call randomness, and errors worded for the operator.

use std::cell::{Cell, RefCell};
use std::path::Path;

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::object::builtins::JsPromise;
use boa_engine::{Context, JsError, JsResult, JsValue, NativeFunction, Source, js_string};

/// What a rule's stack traces call its source.
pub const FILE: &str = "rule.js";

/// Longest error text handed to the host (it keeps 500 characters of a
/// fault's reason; the rest of the budget is for the stack).
const MAX_ERROR_CHARS: usize = 1_000;
const MAX_STACK_LINES: usize = 8;

thread_local! {
    /// The context built by [`initialize`]. The plugin is pre-initialised
    /// (wasmtime-wizer runs `initialize` once and snapshots the memory), so
    /// every call starts from this context already built; each call is a
    /// fresh instance, so what one rule leaves in it dies with the call.
    static READY: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// `Math.random`'s state, seeded per call from what the call is about.
    static RANDOM: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
}

/// Builds the context and warms what Boa builds lazily, for the snapshot.
pub fn initialize() {
    let mut ctx = new_context();
    // The first script parsed and run pays for lazily built parts of the
    // engine; pay it here, once, before the snapshot.
    let _ = ctx.eval(Source::from_bytes(
        "(function () { const o = { a: [1, 2].map((x) => x * 2).join(','), b: `${'x'}` }; \
         return JSON.stringify(o) + String(/a+/.test('aa')) + new Date(0).toISOString(); })()",
    ));
    READY.with(|r| *r.borrow_mut() = Some(ctx));
}

/// The context a call runs in: the snapshot's, or a new one (natively
/// under `cargo test`, or a component that was not pre-initialised).
pub fn context() -> Context {
    READY.with(|r| r.borrow_mut().take()).unwrap_or_else(new_context)
}

fn new_context() -> Context {
    let mut ctx = Context::default();
    // Math.random from a generator seeded per call (see `seed`): the same
    // chat gives the same answer in a shadow run, a replay and production.
    let random = FunctionObjectBuilder::new(ctx.realm(), NativeFunction::from_fn_ptr(random))
        .name(js_string!("random"))
        .length(0)
        .build();
    let math = ctx
        .global_object()
        .get(js_string!("Math"), &mut ctx)
        .ok()
        .and_then(|m| m.as_object())
        .expect("Math is a built-in object");
    math.set(js_string!("random"), random, false, &mut ctx)
        .expect("Math.random is writable");
    ctx
}

/// Seeds `Math.random` for a call (FNV-1a of what identifies it).
pub fn seed(parts: &[&str]) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    RANDOM.with(|r| r.set(h | 1));
}

/// xorshift64*: plenty for rules that sample; not for secrets.
fn random(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let x = RANDOM.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    Ok(JsValue::from((x >> 11) as f64 / (1u64 << 53) as f64))
}

/// Where a rule failed, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 1-based, when known.
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
    /// The source does not parse (or defines no such function): the
    /// operator's setting is wrong, not the chat.
    pub in_source: bool,
}

impl Failure {
    fn source(line: u32, column: u32, message: String) -> Self {
        Self {
            line: Some(line),
            column: Some(column),
            message,
            in_source: true,
        }
    }

    /// `line 3, column 7: message`, or the message alone.
    pub fn located(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// Parses `source`, reporting the first syntax error where it is.
pub fn parse(source: &str, ctx: &mut Context) -> Result<(), Failure> {
    let mut parser = boa_parser::Parser::new(Source::from_bytes(source));
    let scope = boa_ast::scope::Scope::new_global();
    match parser.parse_script(&scope, ctx.interner_mut()) {
        Ok(_) => Ok(()),
        Err(e) => Err(syntax_failure(&e, source)),
    }
}

fn syntax_failure(e: &boa_parser::Error, source: &str) -> Failure {
    use boa_parser::Error as E;
    let at = |p: boa_ast::Position| (p.line_number(), p.column_number());
    let (line, column) = match e {
        E::Expected { span, .. } | E::Unexpected { span, .. } => at(span.start()),
        E::General { position, .. } => at(*position),
        E::Lex {
            err: boa_parser::lexer::Error::Syntax(_, position),
        } => at(*position),
        // The source ended inside something still open: point at its end.
        E::AbruptEnd => end_of(source),
        _ => (1, 1),
    };
    // Boa's own text repeats the position at its end; keep the words.
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    let text = if matches!(e, E::AbruptEnd) {
        "the source ends too early (an unclosed bracket, brace, string or comment?)".to_owned()
    } else {
        format!("SyntaxError: {text}")
    };
    Failure::source(line, column, clip(&text))
}

fn end_of(source: &str) -> (u32, u32) {
    let line = source.lines().count().max(1) as u32 + u32::from(source.ends_with('\n'));
    let last = if source.ends_with('\n') {
        ""
    } else {
        source.lines().last().unwrap_or("")
    };
    (line, last.chars().count() as u32 + 1)
}

/// Runs the rule's top level and finds its function named `function`
/// (declared with `function`, or a `const`/`let`/`var` holding one).
pub fn load(source: &str, function: &str, ctx: &mut Context) -> Result<JsValue, Failure> {
    if let Err(e) = ctx.eval(Source::from_bytes(source).with_path(Path::new(FILE))) {
        // A syntax error is found again by the parser alone, which says
        // where it is (one parse per call when the source is sound).
        parse(source, ctx)?;
        return Err(thrown(&e, ctx));
    }
    // A lexical declaration is not a property of the global object; ask
    // the script's scope by name.
    let probe = format!("typeof {function} === 'function' ? {function} : undefined");
    let found = ctx.eval(Source::from_bytes(&probe)).map_err(|e| thrown(&e, ctx))?;
    if found.is_callable() {
        Ok(found)
    } else {
        Err(Failure::source(
            1,
            1,
            format!("the rule defines no function named {function}; write `function {function}(...) {{ ... }}`"),
        ))
    }
}

/// Calls the rule's function and settles its answer (an `async` function's
/// promise is run to its end).
pub fn call(function: &JsValue, args: &[JsValue], ctx: &mut Context) -> Result<JsValue, Failure> {
    let f = function.as_callable().expect("load() found a function");
    let value = f.call(&JsValue::undefined(), args, ctx).map_err(|e| thrown(&e, ctx))?;
    let Some(promise) = value.as_object().and_then(|o| JsPromise::from_object(o).ok()) else {
        return Ok(value);
    };
    ctx.run_jobs().map_err(|e| thrown(&e, ctx))?;
    use boa_engine::builtins::promise::PromiseState;
    match promise.state() {
        PromiseState::Fulfilled(v) => Ok(v),
        PromiseState::Rejected(reason) => Err(thrown(&JsError::from_opaque(reason), ctx)),
        PromiseState::Pending => Err(failure(
            "its promise never settled (rules cannot wait for timers or I/O)".into(),
        )),
    }
}

/// A failure that is not about the source's text.
pub fn failure(message: String) -> Failure {
    Failure {
        line: None,
        column: None,
        message: clip(&message),
        in_source: false,
    }
}

/// What was thrown, with its stack, trimmed; and the rule's line and column
/// when the stack names them.
fn thrown(e: &JsError, ctx: &mut Context) -> Failure {
    let text = match e.clone().into_opaque(ctx) {
        Ok(value) => describe_value(&value, ctx),
        // Uncatchable errors (a runtime limit) have no JavaScript object;
        // their text carries the stack.
        Err(_) => {
            let text = e.to_string();
            let head: Vec<&str> = text.lines().take_while(|l| !l.trim().starts_with("at ")).collect();
            with_frames(head.join("\n"), &text)
        }
    };
    let (line, column) = position_in_stack(&text).unzip();
    Failure {
        line,
        column,
        message: clip(&text),
        in_source: false,
    }
}

fn describe_value(value: &JsValue, ctx: &mut Context) -> String {
    let Some(obj) = value.as_object() else {
        let shown = value
            .to_string(ctx)
            .map(|s| s.to_std_string_escaped())
            .unwrap_or_else(|_| value.display().to_string());
        return format!("uncaught {shown}");
    };
    let head = value
        .to_string(ctx)
        .map(|s| s.to_std_string_escaped())
        .unwrap_or_else(|_| "Error".to_owned());
    let stack = obj
        .get(js_string!("stack"), ctx)
        .ok()
        .filter(JsValue::is_string)
        .and_then(|s| s.to_string(ctx).ok())
        .map(|s| s.to_std_string_escaped())
        .unwrap_or_default();
    with_frames(head, &stack)
}

/// `head`, then the stack's frames (`at …` lines), at most
/// `MAX_STACK_LINES` of them.
fn with_frames(head: String, stack: &str) -> String {
    // Runs of the same frame (a recursion) are one line with a count.
    let mut frames: Vec<String> = Vec::new();
    let mut last: Option<(&str, usize)> = None;
    for frame in stack.lines().map(str::trim).filter(|l| l.starts_with("at ")) {
        match &mut last {
            Some((seen, n)) if *seen == frame => *n += 1,
            _ => {
                if let Some((seen, n)) = last.take() {
                    frames.push(repeated(seen, n));
                }
                last = Some((frame, 1));
            }
        }
    }
    if let Some((seen, n)) = last {
        frames.push(repeated(seen, n));
    }
    frames.truncate(MAX_STACK_LINES);
    if frames.is_empty() {
        head
    } else {
        format!("{head}\n  {}", frames.join("\n  "))
    }
}

fn repeated(frame: &str, times: usize) -> String {
    if times == 1 {
        frame.to_owned()
    } else {
        format!("{frame} (×{times})")
    }
}

/// The first `rule.js:LINE:COLUMN` of a stack.
fn position_in_stack(text: &str) -> Option<(u32, u32)> {
    let needle = format!("{FILE}:");
    let at = text.find(&needle)? + needle.len();
    let mut parts = text[at..].split(|c: char| !c.is_ascii_digit());
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    Some((line, column))
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ERROR_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_ERROR_CHARS - 1).collect();
    out.push('…');
    out
}
