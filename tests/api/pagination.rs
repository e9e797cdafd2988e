//! Lists come a page at a time; the `Link` header leads to the next page.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    following_the_links_walks_every_chat_once_by_last_activity,
    ticket_pages_follow_the_numbers_down,
    bad_page_parameters_are_a_422_naming_the_field,
);

/// Follows `Link: <…>; rel="next"` from `first` until the last page.
async fn walk(app: &TestApp, token: &str, first: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(first.to_owned()));
    while let Some(path) = next.take() {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        items.extend(r.body.as_array().unwrap().iter().cloned());
        pages += 1;
        next = r.headers.get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
    }
    (items, pages)
}

async fn following_the_links_walks_every_chat_once_by_last_activity(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut chats = Vec::new();
    for _ in 0..5 {
        chats.push(app.simple_chat(&t).await.0);
    }
    for chat in &chats[..2] {
        app.admin_converts(&t, chat, json!({"visitor_email": "g@navy.mil"}))
            .await;
    }
    let ids = |items: &[Value]| -> Vec<String> { items.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect() };

    let (all, pages) = walk(&app, &t.admin.token, "/api/v1/chats?limit=2").await;
    // The two converted last come first (the latest conversion on top),
    // then the others, newest first.
    let by_activity: Vec<String> = [1, 0, 4, 3, 2].iter().map(|&i| chats[i].clone()).collect();
    assert_eq!(ids(&all), by_activity);
    assert_eq!(pages, 3);

    // The filter is carried into the next links.
    let (open, _) = walk(&app, &t.admin.token, "/api/v1/chats?status=open&limit=1").await;
    assert_eq!(ids(&open), by_activity[2..]);
    let (closed, _) = walk(&app, &t.admin.token, "/api/v1/chats?status=closed&limit=1").await;
    assert_eq!(ids(&closed), by_activity[..2]);

    // Without a limit a page holds 50.
    let (default, pages) = walk(&app, &t.admin.token, "/api/v1/chats").await;
    assert_eq!((default.len(), pages), (5, 1));
}

async fn ticket_pages_follow_the_numbers_down(app: TestApp) {
    let t = app.tenant("Acme").await;
    for _ in 0..3 {
        let (chat, _) = app.simple_chat(&t).await;
        app.admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil"}))
            .await;
    }
    let first = app.get("/api/v1/tickets?limit=2", &t.admin.token).await;
    let numbers: Vec<&str> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["TK-1003", "TK-1002"]);
    assert_eq!(
        first.headers["link"],
        "</api/v1/tickets?limit=2&before=TK-1002>; rel=\"next\""
    );
    let (all, pages) = walk(&app, &t.admin.token, "/api/v1/tickets?limit=2").await;
    assert_eq!((all.len(), pages), (3, 2));
    assert_eq!(all[2]["number"], "TK-1001");
}

async fn bad_page_parameters_are_a_422_naming_the_field(app: TestApp) {
    let t = app.tenant("Acme").await;
    let theirs = app.tenant("Globex").await;
    let (their_chat, _) = app.simple_chat(&theirs).await;
    for (path, field) in [
        ("/api/v1/chats?limit=0".to_owned(), "limit"),
        ("/api/v1/chats?limit=201".to_owned(), "limit"),
        ("/api/v1/chats?limit=many".to_owned(), "limit"),
        ("/api/v1/chats?before=nope".to_owned(), "before"),
        // Another workspace's chat is no cursor here.
        (format!("/api/v1/chats?before={their_chat}"), "before"),
        ("/api/v1/tickets?limit=0".to_owned(), "limit"),
        ("/api/v1/tickets?before=abc".to_owned(), "before"),
    ] {
        let r = app.get(&path, &t.admin.token).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(r.body["error"]["field"], field, "{path}");
    }
}
