//! Staged rollout: a candidate pipeline runs a share of the chats, chosen
//! per chat by the documented rule, beside the current one; each ticket's
//! receipt says which ran; the candidate is promoted, abandoned, or gives
//! itself up when it faults, and the history says why.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use threadline_tests::{TestApp, TestTenant, on_both_databases};

on_both_databases!(
    a_tenth_of_the_chats_run_the_candidate_and_their_receipts_say_which,
    a_candidate_that_faults_gives_itself_up_and_the_history_says_why,
    a_rollout_is_abandoned_by_hand_and_is_one_workspace_s_alone,
);

/// The rule README documents: the first eight bytes of SHA-256 of
/// `"<rollout>:<chat>"`, big-endian, modulo 10,000, below `percent × 100`.
fn runs_candidate(rollout: &str, chat: &str, percent: u64) -> bool {
    let digest = Sha256::digest(format!("{rollout}:{chat}").as_bytes());
    let first = u64::from_be_bytes(digest[..8].try_into().unwrap());
    first % 10_000 < percent * 100
}

fn candidate_subject() -> Value {
    json!({"subject": {"plugin": "subject-default", "config": {"template": "Candidate {visitor_name}"}}})
}

/// A new chat converted by the admin, its subject left to the hook.
async fn convert_one(app: &TestApp, t: &TestTenant) -> (String, Value) {
    let (chat, _) = app.simple_chat(t).await;
    let r = app
        .admin_converts(t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (chat, r.body)
}

fn subject_receipt(ticket: &Value) -> &Value {
    let receipt = ticket["receipt"].as_array().expect("a receipt");
    receipt.iter().find(|r| r["hook"] == "subject").expect("a subject step")
}

async fn a_tenth_of_the_chats_run_the_candidate_and_their_receipts_say_which(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut chats = Vec::new();
    for _ in 0..200 {
        chats.push(app.simple_chat(&t).await.0);
    }
    // Which chats a rollout draws is the documented hash of its id and
    // theirs: 10% of 200 chats falls outside 10% ± 5% for 1.3% of the
    // rollout ids (binomial). Such a draw is abandoned and redrawn, as an
    // admin may, so that what this test checks is the server (every chat
    // on the side the rule puts it, its receipt saying so), not the dice;
    // the rule's share is checked over 20,000 fixed ids in the unit tests
    // of `domain::rollout`.
    let (rollout, version) = loop {
        let r = app
            .post(
                "/api/v1/pipeline/rollout",
                &t.admin.token,
                json!({"pipeline": {"hooks": candidate_subject()}, "percent": 10}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let rollout = r.body["id"].as_str().unwrap().to_owned();
        let drawn = chats.iter().filter(|c| runs_candidate(&rollout, c, 10)).count();
        if (10..=30).contains(&drawn) {
            assert_eq!(r.body["max_fault_rate"], 0.1);
            assert_eq!(r.body["min_calls"], 20);
            assert_eq!(
                r.body["pipeline"]["hooks"]["subject"]["config"]["template"],
                "Candidate {visitor_name}"
            );
            break (rollout, r.body["version"].as_i64().unwrap());
        }
        let r = app.delete("/api/v1/pipeline/rollout", &t.admin.token).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    };

    // One at a time, and the pipeline holds still meanwhile.
    let again = app
        .post(
            "/api/v1/pipeline/rollout",
            &t.admin.token,
            json!({"pipeline": {"hooks": {}}, "percent": 50}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    let put = app.put_pipeline(&t.admin.token, json!({})).await;
    assert_eq!(put.status, StatusCode::CONFLICT, "{:?}", put.body);

    let mut on_candidate = 0;
    for chat in &chats {
        let r = app
            .admin_converts(&t, chat, json!({"visitor_email": "grace@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let ticket = r.body;
        let step = subject_receipt(&ticket);
        let expected = runs_candidate(&rollout, chat, 10);
        let subject = ticket["subject"].as_str().unwrap();
        assert_eq!(
            step["pipeline"],
            if expected { "candidate" } else { "current" },
            "{chat}"
        );
        assert_eq!(subject.starts_with("Candidate "), expected, "{subject}");
        assert_eq!(step["pipeline_version"], version);
        // Every step of the receipt names the same run.
        for s in ticket["receipt"].as_array().unwrap() {
            assert_eq!(s["pipeline"], step["pipeline"]);
        }
        on_candidate += usize::from(expected);
    }
    assert!((10..=30).contains(&on_candidate), "10% ± 5% of 200, got {on_candidate}");

    let figures = app.get("/api/v1/pipeline/rollout", &t.admin.token).await.body;
    assert_eq!(figures["candidate"]["calls"], on_candidate);
    assert_eq!(figures["current"]["calls"], 200 - on_candidate);
    assert_eq!(figures["candidate"]["faults"], 0);
    assert_eq!(figures["candidate"]["fault_rate"], 0.0);

    // Promoted: the candidate is the pipeline, for every chat.
    let r = app.post_empty("/api/v1/pipeline/rollout/promote", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["hooks"]["subject"]["config"]["template"],
        "Candidate {visitor_name}"
    );
    assert_eq!(
        app.get("/api/v1/pipeline/rollout", &t.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await.body;
    let note = history[0]["note"].as_str().unwrap();
    assert!(note.starts_with("rollout promoted"), "{note}");
    assert!(history[1]["note"].as_str().unwrap().starts_with("rollout started: 10%"));
    for _ in 0..3 {
        let (_, ticket) = convert_one(&app, &t).await;
        assert!(ticket["subject"].as_str().unwrap().starts_with("Candidate "));
        assert_eq!(subject_receipt(&ticket)["pipeline"], "current");
        assert_eq!(subject_receipt(&ticket)["pipeline_version"], history[0]["version"]);
    }
    // The pipeline can change again.
    assert_eq!(app.put_pipeline(&t.admin.token, json!({})).await.status, StatusCode::OK);
}

async fn a_candidate_that_faults_gives_itself_up_and_the_history_says_why(app: TestApp) {
    let t = app.tenant("Acme").await;
    let failing = json!({"subject": {"plugin": "javascript",
        "config": {"source": "function subject(chat) { throw new Error('the candidate is broken'); }"}}});
    let r = app
        .post(
            "/api/v1/pipeline/rollout",
            &t.admin.token,
            json!({"pipeline": {"hooks": failing}, "percent": 50, "max_fault_rate": 0.5, "min_calls": 4}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let rollout = r.body["id"].as_str().unwrap().to_owned();

    let mut candidate_runs = 0;
    for _ in 0..80 {
        let (chat, ticket) = convert_one(&app, &t).await;
        // The fallback policy still makes the ticket, with the built-in rule.
        assert_eq!(ticket["subject"], "Chat with Grace Hopper");
        if runs_candidate(&rollout, &chat, 50) {
            assert_eq!(subject_receipt(&ticket)["outcome"], "fell_back");
            candidate_runs += 1;
        }
        if candidate_runs == 4 {
            break;
        }
    }
    assert_eq!(candidate_runs, 4, "80 chats at 50% gave fewer than 4 candidate runs");
    let r = app.get("/api/v1/pipeline/rollout", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the rollout is still on: {:?}", r.body);
    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await.body;
    assert_eq!(history[0]["changed_by"]["name"], "Automatic rollback");
    let note = history[0]["note"].as_str().unwrap();
    assert!(
        note.starts_with("rollout abandoned by itself: 4 of its last 4 runs faulted (100%, over the 50% allowed)"),
        "{note}"
    );
    // The current pipeline is as it was, and runs every chat again.
    assert_eq!(history[0]["hooks"]["subject"]["plugin"], "subject-default");
    for _ in 0..5 {
        let (_, ticket) = convert_one(&app, &t).await;
        assert_eq!(subject_receipt(&ticket)["pipeline"], "current");
        assert_eq!(subject_receipt(&ticket)["outcome"], "ok");
    }
}

async fn a_rollout_is_abandoned_by_hand_and_is_one_workspace_s_alone(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Globex").await;
    for (body, field) in [
        (json!({"pipeline": {"hooks": {}}, "percent": 0}), "percent"),
        (json!({"pipeline": {"hooks": {}}, "percent": 100}), "percent"),
        (
            json!({"pipeline": {"hooks": {}}, "percent": 5, "max_fault_rate": 2}),
            "max_fault_rate",
        ),
        (
            json!({"pipeline": {"hooks": {}}, "percent": 5, "min_calls": 0}),
            "min_calls",
        ),
        (
            json!({"pipeline": {"hooks": {"escalation": {"plugin": "x"}}}, "percent": 5}),
            "pipeline.hooks.escalation",
        ),
    ] {
        let r = app.post("/api/v1/pipeline/rollout", &t.admin.token, body).await;
        r.assert_invalid(field);
    }
    let r = app
        .post(
            "/api/v1/pipeline/rollout",
            &t.admin.token,
            json!({"pipeline": {"hooks": candidate_subject()}, "percent": 30}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Another workspace neither sees it nor runs it, and starts its own.
    assert_eq!(
        app.get("/api/v1/pipeline/rollout", &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/api/v1/pipeline/rollout", &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    for _ in 0..10 {
        let (_, ticket) = convert_one(&app, &other).await;
        assert_eq!(subject_receipt(&ticket)["pipeline"], "current");
    }
    let r = app
        .post(
            "/api/v1/pipeline/rollout",
            &other.admin.token,
            json!({"pipeline": {"hooks": {}}, "percent": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // An agent who is not an admin may not touch it.
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/pipeline/rollout", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );

    let r = app.delete("/api/v1/pipeline/rollout", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        app.delete("/api/v1/pipeline/rollout", &t.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await.body;
    let note = history[0]["note"].as_str().unwrap();
    assert!(note.starts_with("rollout abandoned by Ada Admin"), "{note}");
    for _ in 0..10 {
        let (_, ticket) = convert_one(&app, &t).await;
        assert_eq!(subject_receipt(&ticket)["pipeline"], "current");
        assert_eq!(ticket["subject"], "Chat with Grace Hopper");
    }
    // The other workspace's rollout is untouched.
    assert_eq!(
        app.get("/api/v1/pipeline/rollout", &other.admin.token).await.status,
        StatusCode::OK
    );
}
