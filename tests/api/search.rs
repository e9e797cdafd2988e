//! Search: `q=` on the chat list and the ticket list finds by the words of
//! the visitor or requester, the subject, the messages and comments, inside
//! the caller's workspace only, a page at a time.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_migrations::Migrator;
use threadline_migrations::sea_orm_migration::MigratorTrait;
use threadline_tests::{TestApp, TestTenant, on_both_databases};

on_both_databases!(
    chats_are_found_by_visitor_subject_and_messages,
    tickets_are_found_by_number_subject_requester_and_comments,
    a_search_sees_only_its_own_workspace,
    search_results_come_a_page_at_a_time,
    a_search_without_words_is_a_422,
    chats_and_tickets_written_before_search_existed_are_found,
    a_ticket_is_found_by_the_words_of_its_chat,
);

/// The ids (chats) or numbers (tickets) a list returns.
async fn found(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let r = app.get(path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.get("number").unwrap_or(&item["id"]).as_str().unwrap().to_owned())
        .collect()
}

async fn chat_from(
    app: &TestApp,
    t: &TestTenant,
    name: &str,
    email: Option<&str>,
    subject: Option<&str>,
    message: &str,
) -> (String, String) {
    app.start_chat(
        t,
        json!({"visitor_name": name, "visitor_email": email, "subject": subject, "message": message}),
    )
    .await
}

async fn chats_are_found_by_visitor_subject_and_messages(app: TestApp) {
    let t = app.tenant("Acme").await;
    let token = &t.admin.token;
    let (ana, ana_v) = chat_from(
        &app,
        &t,
        "Ana Silva",
        Some("ana@example.com"),
        Some("Billing"),
        "Hi there",
    )
    .await;
    let (bo, _) = chat_from(&app, &t, "Bo Chen", None, None, "My parcel never arrived, order 88123").await;
    let (cy, _) = chat_from(&app, &t, "Cy Ng", Some("cy@example.org"), None, "Hello").await;

    assert_eq!(found(&app, token, "/api/v1/chats?q=ana").await, [ana.as_str()]);
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=SILV").await,
        [ana.as_str()],
        "any case, any prefix"
    );
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=billing").await,
        [ana.as_str()],
        "the subject"
    );
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=parcel%2088123").await,
        [bo.as_str()],
        "the first message"
    );
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=example.org").await,
        [cy.as_str()],
        "the email"
    );
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=example").await.len(),
        2,
        "ana@example.com and cy@example.org"
    );
    assert!(
        found(&app, token, "/api/v1/chats?q=ana%20parcel").await.is_empty(),
        "every word must match"
    );

    // Later messages, the agent's and internal notes too, as they are written.
    assert!(found(&app, token, "/api/v1/chats?q=refund").await.is_empty());
    app.visitor_says(&ana_v, &ana, "I want a refund").await;
    assert_eq!(found(&app, token, "/api/v1/chats?q=refund").await, [ana.as_str()]);
    app.agent_says(token, &cy, "Escalated to logistics", false).await;
    app.agent_says(token, &bo, "vip customer, be kind", true).await;
    assert_eq!(found(&app, token, "/api/v1/chats?q=logist").await, [cy.as_str()]);
    assert_eq!(found(&app, token, "/api/v1/chats?q=vip").await, [bo.as_str()]);

    // The server's own lines are not searched: closing says "closed".
    let r = app.post(&format!("/api/v1/chats/{cy}/close"), token, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        found(&app, token, "/api/v1/chats?q=closed&status=closed")
            .await
            .is_empty()
    );
    // With the status filter.
    assert_eq!(
        found(&app, token, "/api/v1/chats?q=logist&status=closed").await,
        [cy.as_str()]
    );
    assert!(
        found(&app, token, "/api/v1/chats?q=logist&status=open")
            .await
            .is_empty()
    );
}

async fn tickets_are_found_by_number_subject_requester_and_comments(app: TestApp) {
    let t = app.tenant("Acme").await;
    let token = &t.admin.token;
    let mut numbers = Vec::new();
    for (name, email, subject) in [
        ("Ana Silva", "ana@example.com", "Refund for order 88123"),
        ("Bo Chen", "bo@example.net", "Cannot sign in"),
    ] {
        let (chat, _) = chat_from(&app, &t, name, Some(email), None, "Hi").await;
        let r = app
            .convert(
                token,
                &chat,
                json!({"visitor_email": email, "subject": subject, "reason": "needs the warehouse"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        numbers.push(r.body["number"].as_str().unwrap().to_owned());
    }
    let (ana, bo) = (numbers[0].clone(), numbers[1].clone());

    assert_eq!(found(&app, token, "/api/v1/tickets?q=refund").await, [ana.as_str()]);
    assert_eq!(found(&app, token, "/api/v1/tickets?q=88123").await, [ana.as_str()]);
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=bo%40example.net").await,
        [bo.as_str()]
    );
    assert_eq!(found(&app, token, "/api/v1/tickets?q=chen").await, [bo.as_str()]);
    assert_eq!(
        found(&app, token, &format!("/api/v1/tickets?q={bo}")).await,
        [bo.as_str()],
        "TK-…"
    );
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=warehouse").await,
        [bo.as_str(), ana.as_str()],
        "the conversion's reason, newest number first"
    );

    // A comment makes its ticket findable at once.
    let r = app
        .post(
            &format!("/api/v1/tickets/{bo}/comments"),
            token,
            json!({"body": "Password reset link sent", "internal": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=passw%20reset").await,
        [bo.as_str()]
    );

    // With the other filters and orders.
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=warehouse&status=in_progress&sort=due")
            .await
            .len(),
        0,
        "no targets set: nothing is due"
    );
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=warehouse&status=in_progress")
            .await
            .len(),
        2
    );
    assert!(
        found(&app, token, "/api/v1/tickets?q=warehouse&status=solved")
            .await
            .is_empty()
    );
}

async fn a_search_sees_only_its_own_workspace(app: TestApp) {
    let (a, b) = (app.tenant("A").await, app.tenant("B").await);
    let (chat_a, _) = chat_from(&app, &a, "Zed Alpha", None, None, "secret project falcon").await;
    let (chat_b, _) = chat_from(&app, &b, "Zed Beta", None, None, "project falcon too").await;
    let r = app
        .admin_converts(
            &b,
            &chat_b,
            json!({"visitor_email": "zed@example.com", "subject": "Falcon"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(found(&app, &a.admin.token, "/api/v1/chats?q=falcon").await, [chat_a]);
    assert!(found(&app, &a.admin.token, "/api/v1/tickets?q=falcon").await.is_empty());
    assert_eq!(found(&app, &b.admin.token, "/api/v1/tickets?q=falcon").await.len(), 1);
}

async fn search_results_come_a_page_at_a_time(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut wanted = Vec::new();
    for i in 0..7 {
        let (chat, _) = chat_from(
            &app,
            &t,
            &format!("Visitor {i}"),
            None,
            None,
            &format!("zoë question {i}"),
        )
        .await;
        wanted.push(chat);
        chat_from(&app, &t, &format!("Other {i}"), None, None, "unrelated").await;
    }
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/chats?q=Zo%C3%AB&limit=3".to_owned());
    let mut pages = 0;
    while let Some(path) = next.take() {
        let r = app.get(&path, &t.admin.token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        seen.extend(
            r.body
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        next = r.headers.get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.contains("q=zo%C3%AB"), "the search is carried to the next page: {l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
    }
    assert_eq!(pages, 3);
    wanted.reverse(); // newest activity first
    assert_eq!(seen, wanted);
}

async fn a_search_without_words_is_a_422(app: TestApp) {
    let t = app.tenant("Acme").await;
    for path in [
        "/api/v1/chats?q=a",
        "/api/v1/chats?q=%21%21%21",
        "/api/v1/tickets?q=x",
        &format!("/api/v1/tickets?q={}", "w".repeat(201)),
    ] {
        let r = app.get(path, &t.admin.token).await;
        r.assert_invalid("q");
    }
    // Blank is no search at all.
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(found(&app, &t.admin.token, "/api/v1/chats?q=%20").await, [chat]);
}

/// Migration 16 indexed what was there before it: taken down and up again,
/// it finds the same.
async fn chats_and_tickets_written_before_search_existed_are_found(app: TestApp) {
    let t = app.tenant("Acme").await;
    let token = &t.admin.token;
    let (chat, visitor) = chat_from(&app, &t, "Ana Silva", Some("ana@example.com"), None, "Hi").await;
    app.visitor_says(&visitor, &chat, "about my refund").await;
    let r = app
        .convert(
            token,
            &chat,
            json!({"visitor_email": "ana@example.com", "subject": "Parcel"}),
        )
        .await;
    let number = r.body["number"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            token,
            json!({"body": "courier called", "internal": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    Migrator::down(&db, Some(1)).await.unwrap();
    Migrator::up(&db, None).await.unwrap();

    assert_eq!(
        found(&app, token, "/api/v1/chats?q=refund%20silva").await,
        [chat.as_str()]
    );
    for q in ["parcel", "courier", "ana%40example.com", &number] {
        assert_eq!(
            found(&app, token, &format!("/api/v1/tickets?q={q}")).await,
            [number.as_str()],
            "{q}"
        );
    }
    let body: Value = app.get("/api/v1/chats?q=converted", token).await.body;
    assert_eq!(body, json!([]), "system lines are not indexed by the backfill either");
}

async fn a_ticket_is_found_by_the_words_of_its_chat(app: TestApp) {
    // Seven of ten chats say "damaged item"; each becomes a ticket whose
    // subject does not say so. The search finds exactly those seven, and
    // every word must match somewhere (ticket or transcript).
    let t = app.tenant("Acme").await;
    let token = &t.admin.token;
    let mut damaged = Vec::new();
    for i in 0..10 {
        let said = if i < 7 {
            "My order came as a damaged item"
        } else {
            "Where is my order?"
        };
        let (chat, _) = chat_from(&app, &t, &format!("Visitor {i}"), None, None, said).await;
        let r = app
            .convert(
                token,
                &chat,
                json!({"visitor_email": format!("v{i}@example.com"), "subject": format!("Order {i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        if i < 7 {
            damaged.push(r.body["number"].as_str().unwrap().to_owned());
        }
    }
    damaged.reverse(); // newest number first
    assert_eq!(found(&app, token, "/api/v1/tickets?q=damaged").await, damaged);
    assert_eq!(found(&app, token, "/api/v1/tickets?q=damag%20item").await, damaged);
    // One word from the ticket (its requester), one from the transcript.
    assert_eq!(
        found(&app, token, "/api/v1/tickets?q=v3%40example.com%20damaged").await,
        [damaged[3].clone()]
    );
    assert!(
        found(&app, token, "/api/v1/tickets?q=v8%40example.com%20damaged")
            .await
            .is_empty(),
        "v8's chat never said it"
    );
    // Another workspace's transcripts find nothing here.
    let other = app.tenant("Other").await;
    assert!(
        found(&app, &other.admin.token, "/api/v1/tickets?q=damaged")
            .await
            .is_empty()
    );
}

/// A search word is one range of the index's key within the workspace, not
/// a scan: SQLite's plan for the query the lists use, word by word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_word_reads_one_key_range_of_its_workspace() {
    use sea_orm::{ConnectionTrait, Statement};
    use threadline_migrations::search::{self, SearchIndex};
    let app = TestApp::spawn(
        threadline_tests::TestDb::create(threadline_tests::Backend::Sqlite)
            .await
            .unwrap(),
    )
    .await;
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    for (index, table) in [
        (SearchIndex::Chats, "chat_terms"),
        (SearchIndex::Tickets, "ticket_terms"),
    ] {
        let built = db.get_database_backend().build(&search::matching(index, "t1", "ana"));
        let sql = built.sql.clone();
        let plan = db
            .query_all_raw(Statement {
                sql: format!("EXPLAIN QUERY PLAN {sql}"),
                ..built
            })
            .await
            .unwrap();
        let steps: Vec<String> = plan
            .iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect();
        assert_eq!(
            steps,
            [format!(
                "SEARCH {table} USING PRIMARY KEY (tenant_id=? AND term>? AND term<?)"
            )],
            "{sql}"
        );
    }
}
