//! The visitor's side, reopening, and the chat list.

use reqwest::{Method, StatusCode};
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    visitors_never_see_internal_notes,
    the_rating_prompt_shows_after_conversion_and_once_rated_goes_away,
    a_rating_needs_a_closed_chat_and_a_score_from_one_to_five,
    reopening_a_converted_chat_keeps_the_ticket_link,
    closed_chats_take_no_messages_until_reopened,
    the_chat_list_filters_by_status,
    a_visitor_token_opens_only_that_visitors_chats,
    the_inbox_lists_chats_by_last_activity_with_a_preview,
    a_visitor_back_after_a_chat_ended_starts_another_as_the_same_visitor,
);

async fn visitors_never_see_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    app.agent_says(&t.admin.token, &chat, "Hi!", false).await;
    app.agent_says(&t.admin.token, &chat, "VIP?", true).await;
    let r = app.visitor_says(&visitor, &chat, "Still here").await;
    assert_eq!(r.status, StatusCode::CREATED);

    let seen = app.get(&format!("/api/v1/widget/chats/{chat}"), &visitor).await;
    assert_eq!(seen.status, StatusCode::OK);
    let bodies: Vec<&str> = seen.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Hello?", "Hi!", "Still here"]);
    assert_eq!(seen.body["rating_prompt"], false, "no prompt while the chat is open");

    // Agents do see the note.
    let agent_view = app.chat(&t.admin.token, &chat).await;
    assert_eq!(agent_view["messages"].as_array().unwrap().len(), 4);
    assert_eq!(agent_view["messages"][2]["kind"], "internal_note");
}

async fn the_rating_prompt_shows_after_conversion_and_once_rated_goes_away(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let seen = app.visitor_view(&visitor, &chat).await;
    assert_eq!(seen["status"], "closed");
    assert_eq!(seen["rating_prompt"], true);

    let r = app
        .post(
            &format!("/api/v1/widget/chats/{chat}/rating"),
            &visitor,
            json!({"score": 5, "comment": "Quick!"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let seen = app.visitor_view(&visitor, &chat).await;
    assert_eq!(seen["rating_prompt"], false);
    assert_eq!(seen["rating"]["score"], 5);
    assert_eq!(seen["rating"]["comment"], "Quick!");
    // The agents see it on the chat.
    let agents_see = app.chat(&t.admin.token, &chat).await;
    assert_eq!(agents_see["rating"]["score"], 5);
    assert_eq!(agents_see["rating"]["comment"], "Quick!");

    let twice = app
        .post(
            &format!("/api/v1/widget/chats/{chat}/rating"),
            &visitor,
            json!({"score": 1}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let seen = app.visitor_view(&visitor, &chat).await;
    assert_eq!(seen["rating"]["score"], 5, "the first rating stands");
}

async fn a_rating_needs_a_closed_chat_and_a_score_from_one_to_five(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let path = format!("/api/v1/widget/chats/{chat}/rating");
    let open = app.post(&path, &visitor, json!({"score": 4})).await;
    assert_eq!(open.status, StatusCode::CONFLICT);

    app.post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    for bad in [
        json!({"score": 0}),
        json!({"score": 6}),
        json!({}),
        json!({"score": 3, "comment": "a\u{7}"}),
    ] {
        let r = app.post(&path, &visitor, bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = app.post(&path, &visitor, json!({"score": "five"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // None of those was recorded.
    assert_eq!(app.visitor_view(&visitor, &chat).await["rating_prompt"], true);
    assert_eq!(
        app.post(&path, &visitor, json!({"score": 1})).await.status,
        StatusCode::CREATED
    );
}

async fn reopening_a_converted_chat_keeps_the_ticket_link(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let ticket = app
        .admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil"}))
        .await
        .body;

    let r = app
        .post(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "open");
    assert!(r.body["closed_at"].is_null());
    assert_eq!(r.body["ticket"]["number"], "TK-1001");
    let last = r.body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["body"].as_str()),
        (Some("system"), Some("Chat reopened by Ada Admin."))
    );

    // The ticket still points back, and the conversation goes on.
    let tk = app.get("/api/v1/tickets/TK-1001", &t.admin.token).await.body;
    assert_eq!(tk["origin"]["chat_id"], chat.as_str());
    let r = app.visitor_says(&visitor, &chat, "One more thing").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.visitor_view(&visitor, &chat).await["rating_prompt"], false);

    // Converting the reopened chat gives back its ticket, not a second one.
    let again = app
        .admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil"}))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], ticket["id"]);

    let twice = app
        .post(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token, json!({}))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
}

async fn closed_chats_take_no_messages_until_reopened(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let r = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.body["status"], "closed");
    assert_eq!(
        app.post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );

    let before = app.chat(&t.admin.token, &chat).await;
    let v = app.visitor_says(&visitor, &chat, "hello?").await;
    assert_eq!(v.status, StatusCode::CONFLICT);
    let a = app.agent_says(&t.admin.token, &chat, "hi", false).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(app.chat(&t.admin.token, &chat).await, before);

    app.post(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token, json!({}))
        .await;
    let v = app.visitor_says(&visitor, &chat, "hello?").await;
    assert_eq!(v.status, StatusCode::CREATED);
}

async fn the_chat_list_filters_by_status(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (open, _) = app.simple_chat(&t).await;
    let (converted, _) = app.simple_chat(&t).await;
    app.admin_converts(&t, &converted, json!({"visitor_email": "g@navy.mil"}))
        .await;

    let ids = |r: threadline_tests::Reply| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(app.get("/api/v1/chats?status=open", &t.admin.token).await),
        [open.as_str()]
    );
    assert_eq!(
        ids(app.get("/api/v1/chats?status=closed", &t.admin.token).await),
        [converted.as_str()]
    );
    let all = app.get("/api/v1/chats", &t.admin.token).await;
    assert_eq!(ids(all), [converted.as_str(), open.as_str()], "newest first");
    let closed = app.get("/api/v1/chats?status=closed", &t.admin.token).await.body;
    assert_eq!(closed[0]["has_ticket"], true);
    assert_eq!(closed[0]["visitor"]["name"], "Grace Hopper");

    let bad = app.get("/api/v1/chats?status=archived", &t.admin.token).await;
    bad.assert_invalid("status");
}

async fn a_visitor_token_opens_only_that_visitors_chats(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _mine) = app.simple_chat(&t).await;
    let (_other_chat, someone_else) = app.simple_chat(&t).await;
    let r = app.get(&format!("/api/v1/widget/chats/{chat}"), &someone_else).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.visitor_says(&someone_else, &chat, "hijack").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An agent token is not a visitor token, nor the other way round.
    assert_eq!(
        app.get(&format!("/api/v1/widget/chats/{chat}"), &t.admin.token)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/api/v1/chats/{chat}"), &someone_else).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .call(Method::GET, &format!("/api/v1/widget/chats/{chat}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn the_inbox_lists_chats_by_last_activity_with_a_preview(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut chats = Vec::new();
    for name in ["Ann", "Ben", "Cy"] {
        let (chat, visitor) = app
            .start_chat(&t, json!({"visitor_name": name, "message": format!("Hi, I am {name}")}))
            .await;
        chats.push((chat, visitor));
    }
    let body = list(&app, &t).await;
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["visitor"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Cy", "Ben", "Ann"], "newest activity first");
    assert_eq!(body[0]["last_message"], "Hi, I am Cy");
    assert_eq!(body[0]["waiting"], true, "the visitor wrote last");

    // Ann writes again: her chat comes first, with her words.
    let (ann, ann_token) = &chats[0];
    app.visitor_says(ann_token, ann, "Still\nthere?").await;
    let body = list(&app, &t).await;
    assert_eq!(body[0]["id"], ann.as_str());
    assert_eq!(body[0]["last_message"], "Still there?", "on one line");
    // An agent answers: no longer waiting. An internal note changes neither.
    app.agent_says(&t.admin.token, ann, "Yes!", false).await;
    app.agent_says(&t.admin.token, ann, "VIP customer", true).await;
    let body = list(&app, &t).await;
    assert_eq!(body[0]["id"], ann.as_str());
    assert_eq!(body[0]["last_message"], "Yes!");
    assert_eq!(body[0]["waiting"], false);
    // A long message is cut for the preview.
    let (cy, cy_token) = &chats[2];
    app.visitor_says(cy_token, cy, &"word ".repeat(100)).await;
    let body = list(&app, &t).await;
    let preview = body[0]["last_message"].as_str().unwrap();
    assert_eq!(preview.chars().count(), 120);
    assert!(preview.ends_with('…'));
}

async fn list(app: &TestApp, t: &threadline_tests::TestTenant) -> serde_json::Value {
    app.get("/api/v1/chats?status=open", &t.admin.token).await.body
}

async fn a_visitor_back_after_a_chat_ended_starts_another_as_the_same_visitor(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let (first, visitor) = app.simple_chat(&t).await;
    let r = app
        .post_empty(&format!("/api/v1/chats/{first}/close"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let start = |key: &str, token: Option<&str>, email: Option<&str>| {
        let body = json!({"visitor_name": "Grace H.", "visitor_email": email, "message": "Me again"});
        let path = format!("/api/v1/widget/{key}/chats");
        let (app, token) = (&app, token.map(str::to_owned));
        async move { app.call(Method::POST, &path, token.as_deref(), Some(body)).await }
    };

    // With their token: the same visitor, who keeps their token, with the
    // name and address given now.
    let r = start(&t.widget_key, Some(&visitor), Some("grace@example.com")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["visitor_token"], visitor.as_str());
    let second = r.body["chat_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    for chat in [&first, &second] {
        let seen = app.get(&format!("/api/v1/widget/chats/{chat}"), &visitor).await;
        assert_eq!(seen.status, StatusCode::OK, "{chat}: {:?}", seen.body);
    }
    let shown = app.chat(&t.admin.token, &second).await;
    assert_eq!(shown["visitor"]["email"], "grace@example.com", "{shown}");
    assert_eq!(shown["visitor"]["name"], "Grace H.");
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let visitors = threadline_tests::sql::query(
        &db,
        "SELECT COUNT(DISTINCT visitor_id) AS n FROM chats WHERE id IN ($1, $2)",
        vec![first.as_str().into(), second.as_str().into()],
    )
    .await;
    assert_eq!(visitors[0].try_get::<i64>("", "n").unwrap(), 1);

    // Their token lasts as long as their newest chat: the first one closed
    // long ago does not end it while the second is open.
    let long_ago = chrono::Utc::now() - chrono::Duration::days(40);
    threadline_tests::sql::exec(
        &db,
        "UPDATE chats SET closed_at = $1 WHERE id = $2",
        vec![long_ago.into(), first.as_str().into()],
    )
    .await;
    assert_eq!(
        app.visitor_says(&visitor, &second, "still here").await.status,
        StatusCode::CREATED
    );

    // Another workspace's widget, or a made-up token: a new visitor.
    let r = start(&other.widget_key, Some(&visitor), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_ne!(r.body["visitor_token"], visitor.as_str());
    let r = start(&t.widget_key, Some("tlv_madeup"), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_ne!(r.body["visitor_token"], "tlv_madeup");
}
