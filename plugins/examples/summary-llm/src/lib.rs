//! Example: a summary written by a language model at close. It sends the
//! chat's public messages (a hook is never given internal notes) to an
//! OpenAI-compatible chat-completions endpoint and keeps the model's
//! answer; when the endpoint fails, answers something unusable or runs out
//! of time, it falls back to the built-in extractive summary (first
//! question, last reply) and says why in the plugin log.
//!
//! Settings (`PUT /api/v1/pipeline`, hook `summary`):
//! - `url`: the endpoint, e.g. `https://api.openai.com/v1/chat/completions`;
//! - `model` (default `gpt-4o-mini`), `max_words` (default 60);
//! - the secret `api_key` under `secrets` (sent as a bearer token; the API
//!   never shows it back);
//! - the endpoint's host in `allowed_hosts`, and a `limits.timeout_ms` the
//!   model can answer in (the summary hook may take up to 30 s).

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::rules::{self, SummaryOptions};
use threadline_plugin_sdk::{Author, Chat, Context, Error, Message, config, http, setting, summary, warn};

pub struct SummaryLlm;

/// The transcript the model reads, at most this many characters (the
/// newest messages are kept when a chat is longer).
const MAX_PROMPT_CHARS: usize = 24_000;

impl summary::Hook for SummaryLlm {
    fn summarize(ctx: &Context, chat: &Chat) -> Result<Option<String>, Error> {
        let messages = chat.all_messages();
        if messages.is_empty() {
            return Ok(None);
        }
        match ask_model(ctx, &messages) {
            Ok(summary) => Ok(Some(summary)),
            Err(why) => {
                warn(
                    "the model gave no summary; the extractive one is kept",
                    &[("reason", &why)],
                );
                Ok(rules::summary(&messages, &SummaryOptions::default()))
            }
        }
    }
}

fn ask_model(ctx: &Context, messages: &[Message]) -> Result<String, String> {
    let url = config(ctx, "url").ok_or("the url setting is missing")?;
    let model = config(ctx, "model").unwrap_or("gpt-4o-mini");
    let max_words: u32 = setting(ctx, "max_words").ok().flatten().unwrap_or(60);
    let key = config(ctx, "api_key");
    let body = serde_json::json!({
        "model": model,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": format!(
                "You summarize customer support chats for the agents who pick them up later. \
                 In at most {max_words} words, say what the customer needed and what was done or promised. \
                 Plain text, no greeting."
            )},
            {"role": "user", "content": transcript(messages)},
        ],
    });
    let bearer = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    let response = http::post_json(url, &headers, &body.to_string())?;
    if !response.ok() {
        let text: String = response.text().chars().take(200).collect();
        return Err(format!("the endpoint answered {}: {text}", response.status));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let content = answer["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the answer has no choices[0].message.content")?;
    // One paragraph, within what a summary may be.
    let summary: String = content.split_whitespace().collect::<Vec<_>>().join(" ");
    if summary.is_empty() {
        return Err("the model answered nothing".into());
    }
    Ok(summary.chars().take(2_000).collect())
}

/// `Visitor: …` and `Agent: …` lines, the newest kept within the cap.
fn transcript(messages: &[Message]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut size = 0;
    for m in messages.iter().rev() {
        let who = match m.author {
            Author::Visitor => "Customer",
            Author::Agent => "Agent",
            Author::System => continue,
        };
        let line = format!("{who} ({}): {}", m.author_name, m.body);
        size += line.len() + 1;
        if size > MAX_PROMPT_CHARS {
            break;
        }
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

impl Describe for SummaryLlm {
    fn describe() -> Info {
        describe::settings(vec![
            describe::text(
                "url",
                None,
                "The OpenAI-compatible chat-completions endpoint (its host must be in allowed_hosts). Give the \
                 API key as the secret api_key.",
            ),
            describe::text("model", Some("gpt-4o-mini"), "The model to ask."),
            describe::integer("max_words", Some(60), "Words the summary may have, at most."),
        ])
    }
}

threadline_plugin_sdk::export_plugin!(SummaryLlm, hooks: [summary]);
