//! Live updates over websockets: what agents and visitors see as it
//! happens, and what they never see.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{Backend, TestApp, TestDb, on_both_databases};

on_both_databases!(
    an_agent_sees_the_workspace_live,
    a_visitor_sees_their_chat_live_but_never_internal_notes,
    agents_see_who_else_has_a_chat_or_ticket_open_and_the_visitor_never_does,
    a_flood_of_presence_costs_colleagues_a_few_events,
    sockets_see_only_their_own_workspace,
    sockets_need_a_valid_token,
    a_socket_closes_when_the_session_it_was_opened_with_ends,
    typing_reaches_the_other_side_and_an_internal_note_stays_with_agents,
    a_flood_of_typing_costs_others_a_few_events,
    a_socket_that_sends_a_huge_frame_is_closed,
    a_ticket_change_a_comment_and_its_mail_reach_the_agents_as_ticket_updates,
);

async fn an_agent_sees_the_workspace_live(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut live = app.events("/api/v1/events", &t.admin.token).await;

    let (chat, visitor) = app.simple_chat(&t).await;
    assert_eq!(
        live.next().await,
        json!({"kind": "chat_started", "chat_id": chat, "internal": false})
    );
    let r = app.visitor_says(&visitor, &chat, "Are you there?").await;
    let e = live.next().await;
    assert_eq!(
        (&e["kind"], &e["chat_id"], &e["internal"]),
        (&json!("message_created"), &json!(chat), &json!(false))
    );
    assert_eq!(e["message_id"], r.body["id"]);
    app.agent_says(&t.admin.token, &chat, "note to self", true).await;
    let e = live.next().await;
    assert_eq!((&e["kind"], &e["internal"]), (&json!("message_created"), &json!(true)));

    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        live.next().await,
        json!({"kind": "chat_converted", "chat_id": chat, "internal": false, "ticket": "TK-1001"})
    );
    let r = app
        .post_empty(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(live.next().await["kind"], "chat_reopened");
}

async fn a_visitor_sees_their_chat_live_but_never_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let (other_chat, _) = app.simple_chat(&t).await;
    let mut live = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;

    app.agent_says(&t.admin.token, &chat, "SECRET: watch list", true).await;
    app.agent_says(&t.admin.token, &other_chat, "someone else's chat", false)
        .await;
    let reply = app.agent_says(&t.admin.token, &chat, "Hello Grace!", false).await;
    let e = live.next().await;
    assert_eq!(e["kind"], "message_created");
    assert_eq!(
        e["message_id"], reply.body["id"],
        "the note and the other chat were skipped"
    );

    let r = app
        .post_empty(&format!("/api/v1/chats/{chat}/close"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        live.next().await,
        json!({"kind": "chat_closed", "chat_id": chat, "internal": false})
    );
}

async fn sockets_see_only_their_own_workspace(app: TestApp) {
    let (a, b) = (app.tenant("A").await, app.tenant("B").await);
    let mut live_b = app.events("/api/v1/events", &b.admin.token).await;
    let (chat_a, visitor_a) = app.simple_chat(&a).await;
    app.visitor_says(&visitor_a, &chat_a, "for A only").await;
    app.agent_says(&a.admin.token, &chat_a, "A's note", true).await;
    let (chat_b, _) = app.simple_chat(&b).await;
    assert_eq!(
        live_b.next().await,
        json!({"kind": "chat_started", "chat_id": chat_b, "internal": false})
    );
}

/// Signing out, or changing the password elsewhere, closes the sockets of
/// the sessions it ends (4401), and only those.
async fn a_socket_closes_when_the_session_it_was_opened_with_ends(app: TestApp) {
    let t = app.tenant("Acme").await;
    let laptop = app.session(&t, &t.admin).await;
    let phone = app.session(&t, &t.admin).await;
    let mut on_laptop = app.events("/api/v1/events", &laptop).await;
    let mut on_phone = app.events("/api/v1/events", &phone).await;
    let mut script = app.events("/api/v1/events", &t.admin.token).await;

    let r = app.post_empty("/api/v1/auth/sign-out", &laptop).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(on_laptop.close_code().await, 4401);

    // A password change from a third session ends the phone's session; the
    // session that made the change and the API token stay.
    let third = app.session(&t, &t.admin).await;
    let r = app
        .put(
            "/api/v1/auth/password",
            &third,
            json!({"current_password": "a long enough password", "new_password": "another long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(on_phone.close_code().await, 4401);
    // The script's socket saw none of it, and still gets events.
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(script.next().await["chat_id"], chat.as_str());
}

/// How a socket that sends `first` as its first frame (or, with `header`,
/// a token in the handshake instead) ends: `Ok(())` when it gets `ready`,
/// `Err(code)` with the close code (or the HTTP status) when it is refused.
async fn socket_outcome(app: &TestApp, path: &str, first: Option<String>, header: Option<&str>) -> Result<(), u16> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut request = format!("ws://{}{path}", app.addr).into_client_request().unwrap();
    if let Some(token) = header {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => return Err(res.status().as_u16()),
        Err(e) => panic!("{e}"),
    };
    if let Some(text) = first {
        socket.send(Message::Text(text.into())).await.unwrap();
    }
    let frame = tokio::time::timeout(std::time::Duration::from_secs(15), socket.next())
        .await
        .expect("an answer within 15 s");
    match frame {
        Some(Ok(Message::Text(t))) => {
            assert_eq!(t.as_str(), r#"{"kind":"ready"}"#);
            Ok(())
        }
        Some(Ok(Message::Close(Some(close)))) => Err(u16::from(close.code)),
        other => panic!("unexpected: {other:?}"),
    }
}

async fn sockets_need_a_valid_token(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let (_, other_visitor) = app.simple_chat(&t).await;
    let frame = |token: &str| Some(json!({ "token": token }).to_string());
    let agent_path = "/api/v1/events";
    let widget_path = format!("/api/v1/widget/chats/{chat}/events");

    assert_eq!(
        socket_outcome(&app, agent_path, frame(&t.admin.token), None).await,
        Ok(())
    );
    assert_eq!(
        socket_outcome(&app, agent_path, frame("tl_nope"), None).await,
        Err(4401)
    );
    assert_eq!(
        socket_outcome(&app, agent_path, frame(&visitor), None).await,
        Err(4401),
        "a visitor token is not an agent's"
    );
    assert_eq!(
        socket_outcome(&app, agent_path, Some("hello".into()), None).await,
        Err(4401),
        "the first frame must carry the token"
    );
    // A token in the URL is not read: proxies log URLs.
    assert_eq!(
        socket_outcome(
            &app,
            &format!("{agent_path}?access_token={}", t.admin.token),
            Some("{}".into()),
            None
        )
        .await,
        Err(4401)
    );
    assert_eq!(
        socket_outcome(&app, &widget_path, frame(&other_visitor), None).await,
        Err(4404)
    );
    assert_eq!(
        socket_outcome(&app, &widget_path, frame(&t.admin.token), None).await,
        Err(4401)
    );
    assert_eq!(socket_outcome(&app, &widget_path, frame(&visitor), None).await, Ok(()));

    // Scripts may authenticate in the handshake instead, and a bad header
    // token is refused before the upgrade.
    assert_eq!(
        socket_outcome(&app, agent_path, None, Some(&t.admin.token)).await,
        Ok(())
    );
    assert_eq!(socket_outcome(&app, &widget_path, None, Some(&visitor)).await, Ok(()));
    assert_eq!(socket_outcome(&app, agent_path, None, Some("tl_nope")).await, Err(401));

    // A signed-out session's socket is refused too.
    let session = app.session(&t, &t.admin).await;
    assert_eq!(socket_outcome(&app, agent_path, frame(&session), None).await, Ok(()));
    let r = app.post_empty("/api/v1/auth/sign-out", &session).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(socket_outcome(&app, agent_path, frame(&session), None).await, Err(4401));

    // Without a websocket handshake, a clear 400.
    let r = app.get("/api/v1/events", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Nodes share events through PostgreSQL: a socket on one node sees what
/// happens through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_one_node_reaches_sockets_on_another() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let one = TestApp::spawn(db).await;
    let two = TestApp::spawn_on(one.db.clone()).await;
    let t = one.tenant("Acme").await;
    let mut live = one.events("/api/v1/events", &t.admin.token).await;
    let (chat, visitor) = two.simple_chat(&t).await;
    assert_eq!(live.next().await["chat_id"], chat.as_str());
    two.visitor_says(&visitor, &chat, "via node two").await;
    assert_eq!(live.next().await["kind"], "message_created");
}

/// Presence: Ada's console says where she is; Bob's hears it (arrived,
/// typing, gone elsewhere, socket closed), the visitor of that chat hears
/// none of it, and another workspace neither.
async fn agents_see_who_else_has_a_chat_or_ticket_open_and_the_visitor_never_does(app: TestApp) {
    let (t, other) = (app.tenant("Acme").await, app.tenant("Other").await);
    let bob = app.agent(&t, "Bob Agent").await;
    // Bob's socket opens before the chat starts, so its `chat_started` comes
    // first (through NOTIFY on PostgreSQL, at no fixed moment otherwise).
    let mut bobs = app.events("/api/v1/events", &bob.token).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    assert_eq!(bobs.next().await["kind"], "chat_started");
    let mut grace = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;
    let mut stranger = app.events("/api/v1/events", &other.admin.token).await;
    let mut ada = app.events("/api/v1/events", &t.admin.token).await;
    let here = |place: Value, here: bool, typing: bool| {
        let mut e = json!({"kind": "presence", "internal": true,
            "presence": {"agent_id": t.admin.id, "name": t.admin.name, "here": here, "typing": typing}});
        e.as_object_mut().unwrap().extend(place.as_object().unwrap().clone());
        e
    };
    let on_chat = json!({"chat_id": chat});
    let on_ticket = json!({"chat_id": "", "ticket": "TK-1001"});

    ada.send(json!({"kind": "presence", "chat_id": chat})).await;
    assert_eq!(bobs.next().await, here(on_chat.clone(), true, false));
    ada.send(json!({"kind": "presence", "chat_id": chat, "typing": true}))
        .await;
    assert_eq!(bobs.next().await, here(on_chat.clone(), true, true));
    // Going to a ticket (any spelling of its number) leaves the chat first.
    ada.send(json!({"kind": "presence", "ticket": "tk-1001"})).await;
    assert_eq!(bobs.next().await, here(on_chat.clone(), false, false));
    assert_eq!(bobs.next().await, here(on_ticket.clone(), true, false));
    // Nonsense places are nowhere: she left the ticket.
    ada.send(json!({"kind": "presence", "ticket": "DROP TABLE"})).await;
    assert_eq!(bobs.next().await, here(on_ticket.clone(), false, false));
    // Back on the chat; closing the console's socket leaves it.
    ada.send(json!({"kind": "presence", "chat_id": chat})).await;
    assert_eq!(bobs.next().await, here(on_chat.clone(), true, false));
    drop(ada);
    assert_eq!(bobs.next().await, here(on_chat.clone(), false, false));

    // A visitor cannot claim to be an agent anywhere.
    grace.send(json!({"kind": "presence", "chat_id": chat})).await;
    // The visitor's socket got none of it: the next it hears is a message.
    app.agent_says(&bob.token, &chat, "Hello Grace", false).await;
    assert_eq!(grace.next().await["kind"], "message_created");
    assert_eq!(
        bobs.next().await["kind"],
        "message_created",
        "nothing from the visitor's claim"
    );
    // The other workspace heard nothing of Acme's: the first it hears is
    // its own agent's typing.
    stranger
        .send(json!({"kind": "typing", "chat_id": uuid::Uuid::new_v4().to_string(), "active": true}))
        .await;
    assert_eq!(stranger.next().await["kind"], "typing");
}

/// Presence crosses nodes: Ada's socket on one, Bob's on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_agents_on_another_node() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let one = TestApp::spawn(db).await;
    let two = TestApp::spawn_on(one.db.clone()).await;
    let t = one.tenant("Acme").await;
    let bob = one.agent(&t, "Bob").await;
    let mut bobs = two.events("/api/v1/events", &bob.token).await;
    let mut ada = one.events("/api/v1/events", &t.admin.token).await;
    ada.send(json!({"kind": "presence", "ticket": "TK-1001", "typing": true}))
        .await;
    let e = bobs.next().await;
    assert_eq!(
        (&e["kind"], &e["ticket"]),
        (&json!("presence"), &json!("TK-1001")),
        "{e}"
    );
    assert_eq!(e["presence"]["typing"], true);
}

async fn typing_reaches_the_other_side_and_an_internal_note_stays_with_agents(app: TestApp) {
    let (t, other) = (app.tenant("Acme").await, app.tenant("Other").await);
    let bob = app.agent(&t, "Bob Agent").await;
    // The agents' sockets open before the chat starts: on PostgreSQL its
    // `chat_started` goes through NOTIFY, and would otherwise reach a
    // socket opened just after the start at an unknown moment.
    let mut ada = app.events("/api/v1/events", &t.admin.token).await;
    let mut bobs = app.events("/api/v1/events", &bob.token).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    for live in [&mut ada, &mut bobs] {
        assert_eq!(live.next().await["kind"], "chat_started");
    }
    let mut grace = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;

    // Another workspace's agent names this chat: nobody here hears it.
    let mut stranger = app.events("/api/v1/events", &other.admin.token).await;
    stranger
        .send(json!({"kind": "typing", "chat_id": chat, "active": true}))
        .await;
    assert_eq!(stranger.next().await["typing"]["by"], "agent", "only its own workspace");

    // The visitor types: agents see it, the visitor gets no echo.
    grace.send(json!({"kind": "typing", "active": true})).await;
    let seen = json!({"kind": "typing", "chat_id": chat, "internal": false,
        "typing": {"by": "visitor", "active": true}});
    assert_eq!(ada.next().await, seen);
    assert_eq!(bobs.next().await, seen);

    // Ada writes an internal note: Bob sees her typing it, the visitor not.
    let ada_types = |active: bool, internal: bool| json!({"kind": "typing", "chat_id": chat, "active": active, "internal": internal});
    let mut ada_socket = app.events("/api/v1/events", &t.admin.token).await;
    ada_socket.send(ada_types(true, true)).await;
    let e = bobs.next().await;
    assert_eq!(
        e,
        json!({"kind": "typing", "chat_id": chat, "internal": true,
            "typing": {"by": "agent", "agent_id": t.admin.id, "name": t.admin.name, "active": true}})
    );
    // She stops, then writes to the visitor.
    ada_socket.send(ada_types(false, false)).await;
    ada_socket.send(ada_types(true, false)).await;
    let first = grace.next().await;
    assert_eq!(
        (&first["kind"], &first["internal"], &first["typing"]["active"]),
        (&json!("typing"), &json!(false), &json!(false)),
        "the first the visitor hears is Ada stopping, not her internal note: {first}"
    );
    assert_eq!(
        grace.next().await,
        json!({"kind": "typing", "chat_id": chat, "internal": false,
            "typing": {"by": "agent", "agent_id": t.admin.id, "name": t.admin.name, "active": true}})
    );
    // And the stranger's typing never reached the visitor or Ada's workspace.
    app.visitor_says(&visitor, &chat, "still there?").await;
    for live in [&mut ada, &mut bobs] {
        loop {
            let e = live.next().await;
            assert_ne!(e["typing"]["agent_id"], json!(other.admin.id), "{e}");
            if e["kind"] == "message_created" {
                break;
            }
        }
    }
    assert_eq!(grace.next().await["kind"], "message_created");
}

/// A script that sends typing a thousand times costs the others a few
/// events, not a thousand.
async fn a_flood_of_typing_costs_others_a_few_events(app: TestApp) {
    let t = app.tenant("Acme").await;
    // Opened before the chat starts: its `chat_started` comes first.
    let mut agent = app.events("/api/v1/events", &t.admin.token).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    assert_eq!(agent.next().await["kind"], "chat_started");
    let mut bot = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;
    for i in 0..1000 {
        bot.send(json!({"kind": "typing", "active": i % 2 == 0})).await;
    }
    assert_eq!(agent.next().await["kind"], "typing", "the first frame goes through");
    // A message after the flood marks its end on the agent's socket.
    app.visitor_says(&visitor, &chat, "done").await;
    let mut typing_events = 1;
    loop {
        let e = agent.next().await;
        if e["kind"] == "message_created" {
            break;
        }
        assert_eq!(e["kind"], "typing");
        typing_events += 1;
    }
    assert!(
        (1..=10).contains(&typing_events),
        "{typing_events} typing events reached the agent for 1000 frames"
    );
}

/// A hostile agent hopping between two chats a thousand times costs a
/// colleague a few presence events a second (arrivals draw on the socket's
/// bucket; a leave goes out only after an arrival did), not a thousand.
async fn a_flood_of_presence_costs_colleagues_a_few_events(app: TestApp) {
    let t = app.tenant("Acme").await;
    let eve = app.agent(&t, "Eve").await;
    // Opened before the chats start: their `chat_started` come first.
    let mut bob = app.events("/api/v1/events", &t.admin.token).await;
    let (one, visitor) = app.simple_chat(&t).await;
    let (two, _) = app.simple_chat(&t).await;
    for _ in 0..2 {
        assert_eq!(bob.next().await["kind"], "chat_started");
    }
    let mut bot = app.events("/api/v1/events", &eve.token).await;
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let chat = if i % 2 == 0 { &one } else { &two };
        bot.send(json!({"kind": "presence", "chat_id": chat, "typing": i % 3 == 0}))
            .await;
    }
    let took = started.elapsed().as_secs_f64();
    // A message after the flood marks its end on Bob's socket.
    app.visitor_says(&visitor, &one, "done").await;
    let mut presence = 0;
    loop {
        let e = bob.next().await;
        if e["kind"] == "message_created" {
            break;
        }
        assert_eq!(e["kind"], "presence", "{e}");
        presence += 1;
    }
    // The bucket: 4 at once, 2 more a second; each arrival may bring a leave.
    let allowed = 2 * (4 + 2 * (took.ceil() as usize + 1));
    assert!(
        (1..=allowed).contains(&presence),
        "{presence} presence events for 1000 frames sent in {took:.2} s (at most {allowed})"
    );
}

async fn a_socket_that_sends_a_huge_frame_is_closed(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut agent = app.events("/api/v1/events", &t.admin.token).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    assert_eq!(agent.next().await["kind"], "chat_started");
    let mut bot = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;
    let huge = format!(
        "{{\"kind\":\"typing\",\"active\":true,\"pad\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    bot.send_text(huge).await;
    assert!(bot.ends().await, "a 1 MiB frame ends the socket");
    // The server is fine, and so are other sockets.
    app.visitor_says(&visitor, &chat, "still works").await;
    assert_eq!(agent.next().await["kind"], "message_created");
}

/// A ticket's page refetches on `ticket_updated`: a change, a comment, and
/// each attempt at a reply's mail send one to the workspace's agents,
/// and nothing to the visitor of the chat the ticket came from.
async fn a_ticket_change_a_comment_and_its_mail_reach_the_agents_as_ticket_updates(app: TestApp) {
    let smtp = threadline_tests::smtp::SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    // Only the mail this test counts: no acknowledgement of the ticket.
    app.settings(&t, json!({"acknowledge_by_mail": false})).await;
    // Opened first, and read past the conversion: the setup's events (on
    // PostgreSQL through NOTIFY) cannot arrive later among the ones tested.
    let mut agents = app.events("/api/v1/events", &t.admin.token).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    let number = r.body["number"].as_str().unwrap().to_owned();
    while agents.next().await["kind"] != "chat_converted" {}
    let mut graces = app
        .events(&format!("/api/v1/widget/chats/{chat}/events"), &visitor)
        .await;
    let update = json!({"kind": "ticket_updated", "chat_id": "", "internal": false, "ticket": number});

    let path = format!("/api/v1/tickets/{number}");
    app.patch(&path, &t.admin.token, json!({"priority": "high"})).await;
    assert_eq!(agents.next().await, update);
    app.post(
        &format!("{path}/comments"),
        &t.admin.token,
        json!({"body": "On its way"}),
    )
    .await;
    assert_eq!(agents.next().await, update, "the comment");
    assert_eq!(agents.next().await, update, "its mail, sent");
    assert_eq!(smtp.mails_to("grace@example.com", 1).await.len(), 1);
    // The visitor's socket got none of it: the next thing it hears is
    // their own chat's news.
    app.post_empty(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token)
        .await;
    assert_eq!(graces.next().await["kind"], "chat_reopened");
}
