//! The Conversion rules page: settings, a shadow run, a JavaScript rule.

use serde_json::json;

use crate::axe::screenshot;
use crate::driver::browser;
use crate::page::*;

/// An operator changes the rules without code: a subject template and
/// redaction on the Conversion rules page, a shadow run over the last 20
/// chats that shows the differences, save; then a conversion uses them,
/// and the ticket page shows the receipt of what ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_the_rules_tries_them_on_recent_chats_and_sees_the_receipt() {
    let Some((driver, app, t)) = acme().await else { return };
    for i in 0..20 {
        closed_chat(
            &app,
            &t,
            json!({"visitor_name": format!("Visitor {i}"), "message": "My card is 4111 1111 1111 1111"}),
        )
        .await;
    }
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#rules-link").await;
    find(&agent, "#setting-subject-template").await;
    assert_every_field_is_labelled(&agent).await;
    type_into(&agent, "#setting-subject-template", "[VIP] {visitor_name}").await;
    choose(&agent, "#setting-transcript-redact", "true").await;

    type_into(&agent, "#shadow-last", "20").await;
    click(&agent, "#shadow-run").await;
    wait_text(&agent, "#shadow-summary", "20 of 20 chats would change.").await;
    wait_text(&agent, "#shadow-results", "[VIP] Visitor 19").await;
    wait_text(&agent, "#shadow-results", "My card is [card number]").await;
    screenshot(&agent, "console-rules-shadow-run").await;
    assert_eq!(
        app.get("/api/v1/pipeline/history", &t.admin.token).await.body,
        json!([]),
        "a shadow run saves nothing"
    );

    click(&agent, "#save-rules").await;
    wait_text(&agent, "#rules-message", "Saved.").await;
    wait_text(&agent, "#rules-history", "Version").await;
    screenshot(&agent, "console-rules-saved").await;

    // A conversion now uses them.
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@example.com",
                   "message": "Card 4111 1111 1111 1111, phone +44 20 7946 0958"}),
        )
        .await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#preview-transcript", "Card [card number], phone [phone]").await;
    assert_eq!(value_of(&agent, "#convert-subject").await, "[VIP] Grace Hopper");
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket h2", "TK-1001 · [VIP] Grace Hopper").await;
    let description = text_of(&agent, "#ticket-description").await;
    assert!(
        description.contains("Card [card number], phone [phone]"),
        "{description}"
    );
    assert!(!description.contains("4111"), "{description}");
    wait_text(&agent, "#ticket-receipt", "subject-default").await;
    wait_text(&agent, "#ticket-receipt", "transcript-plain").await;
    let receipt = text_of(&agent, "#ticket-receipt").await;
    assert!(
        receipt.contains("fields-none") && receipt.contains("built-in rule"),
        "{receipt}"
    );
    assert!(
        !receipt.contains("typed by the agent"),
        "the pre-filled subject is the rule's: {receipt}"
    );
    screenshot(&agent, "console-ticket-receipt").await;
    agent.close().await.unwrap();
}

/// An operator writes a rule in JavaScript on the Conversion rules page: a
/// syntax error is shown at its line, the fixed rule is tried on a chat,
/// saved, and the next conversion's ticket has the rule's subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_writes_a_javascript_subject_rule_tries_it_and_converts_with_it() {
    let Some((driver, app, t)) = acme().await else { return };
    closed_chat(
        &app,
        &t,
        json!({"visitor_name": "Grace Hopper", "message": "Order 4521 is late"}),
    )
    .await;

    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#rules-link").await;
    choose(&agent, "#plugin-subject", "javascript").await;
    // A first rule to start from, in a code editor with line numbers.
    eventually("the editor holds a first rule", async || {
        value_of(&agent, "#source-subject")
            .await
            .contains("function subject(chat)")
    })
    .await;
    assert_every_field_is_labelled(&agent).await;

    type_into(
        &agent,
        "#source-subject",
        "function subject(chat) {\n  return 'Case: ' +;\n}",
    )
    .await;
    click(&agent, "#try-subject").await;
    wait_text(&agent, "#source-error-subject", "line 2, column 20: SyntaxError").await;
    assert_eq!(text_of(&agent, "#hook-subject .gutter .error-line").await.trim(), "2");
    screenshot(&agent, "console-javascript-rule-syntax-error").await;

    type_into(
        &agent,
        "#source-subject",
        "function subject(chat) {\n  const order = /order (\\d+)/i.exec(chat.first_visitor_message.body);\n  return \
         (order ? `Order ${order[1]}: ` : '') + chat.visitor.name;\n}",
    )
    .await;
    assert_eq!(
        text_of(&agent, "#source-error-subject").await,
        "",
        "editing clears the error"
    );
    click(&agent, "#try-subject").await;
    wait_text(&agent, "#try-result-subject", "Order 4521: Grace Hopper").await;
    screenshot(&agent, "console-javascript-rule-tried").await;

    click(&agent, "#save-rules").await;
    wait_text(&agent, "#rules-message", "Saved.").await;
    eventually("the saved rule is shown", async || {
        value_of(&agent, "#source-subject").await.contains("Order ${order[1]}")
    })
    .await;

    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Ada Lovelace", "visitor_email": "ada@example.com",
                   "message": "Where is order 77?"}),
        )
        .await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    eventually("the rule's subject is pre-filled", async || {
        value_of(&agent, "#convert-subject").await == "Order 77: Ada Lovelace"
    })
    .await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket h2", "TK-1001 · Order 77: Ada Lovelace").await;
    wait_text(&agent, "#ticket-receipt", "javascript").await;
    screenshot(&agent, "console-javascript-rule-ticket").await;
    agent.close().await.unwrap();
}

/// An admin sends a tenth of the chats to a changed subject rule from the
/// rules page, watches both pipelines' figures grow as chats are
/// converted, reads a plugin's log line as it is written, and abandons
/// the rollout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_rolls_a_change_out_to_a_tenth_of_the_chats_and_reads_the_plugin_log_live() {
    let Some((driver, app, t)) = acme().await else { return };
    // A plugin that logs on every call: the assignment example.
    let id = app
        .install_plugin(
            &t.admin.token,
            "least-loaded",
            threadline_tests::wasm::ASSIGN_LEAST_LOADED,
        )
        .await;
    let r = app
        .put_pipeline(&t.admin.token, json!({"assignment": {"plugin": id}}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);

    let admin = browser(&driver).await;
    sign_in(&admin, &app, &t).await;
    click(&admin, "#rules-link").await;
    find(&admin, "#setting-subject-template").await;
    type_into(&admin, "#setting-subject-template", "[Trial] {visitor_name}").await;
    type_into(&admin, "#rollout-percent", "10").await;
    click(&admin, "#rollout-start").await;
    wait_text(&admin, "#rollout-state", "10% of chats run the candidate").await;
    assert_every_field_is_labelled(&admin).await;

    for _ in 0..20 {
        app.converted(&t, "grace@example.com").await;
    }
    let figures = app.get("/api/v1/pipeline/rollout", &t.admin.token).await.body;
    let (current, candidate) = (
        figures["current"]["calls"].as_i64().unwrap(),
        figures["candidate"]["calls"].as_i64().unwrap(),
    );
    assert_eq!(current + candidate, 20);
    // Each row reads "<name> <runs> <faults> <rate>".
    let runs = |text: &str, name: &str| {
        text.strip_prefix(name)
            .and_then(|t| t.split_whitespace().next()?.parse::<i64>().ok())
    };
    eventually("the figures show every run", async || {
        text_passes(&admin, "#rollout-current", |s| runs(s, "Current") == Some(current)).await
            && text_passes(&admin, "#rollout-candidate", |s| {
                runs(s, "Candidate") == Some(candidate)
            })
            .await
    })
    .await;
    wait_text(&admin, "#plugin-log", "least-loaded pick").await;
    wait_text(&admin, "#plugin-log", "assignment").await;
    crate::axe::audit(&admin, "console-rules-rollout").await;
    screenshot(&admin, "console-rules-rollout").await;

    click(&admin, "#rollout-abandon").await;
    wait_text(&admin, "#rules-message", "Rollout abandoned.").await;
    wait_text(&admin, "#rules-history", "rollout abandoned by Ada Admin").await;
    admin.close().await.unwrap();
}
