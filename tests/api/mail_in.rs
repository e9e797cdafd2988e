//! Receiving e-mail over HTTP: real messages (`tests/mail/*.eml`) posted to
//! a workspace's inbound URL open tickets, join the ticket they answer (a
//! reply to a comment whose Message-ID came from the real SMTP sink), or
//! are refused or ignored as they should be, once per Message-ID.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline::inbound::InboundSettings;
use threadline_tests::smtp::{ReceivedMail, SmtpServer};
use threadline_tests::{Reply, TestApp, TestTenant, on_both_databases};

on_both_databases!(
    new_mail_opens_a_ticket_whatever_its_mime_shape,
    the_same_mail_delivered_twice_is_one_ticket,
    replies_join_their_ticket_by_headers_or_reply_address_and_reopen_it,
    machines_and_loops_never_open_tickets_nor_get_answers,
    a_reply_to_a_closed_ticket_opens_a_follow_up,
    a_ticket_number_in_the_subject_threads_only_its_requester,
    oversized_unknown_and_malformed_mail_is_refused_and_changes_nothing,
    a_sender_flooding_the_mailbox_stops_opening_tickets,
    a_conversion_mails_the_requester_their_ticket_and_transcript,
);

const PATIENCE: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/mail/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture with its `{placeholders}` filled in.
fn filled(name: &str, values: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::from_utf8(fixture(name)).unwrap();
    for (k, v) in values {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    text.into_bytes()
}

async fn inbound_key(app: &TestApp, t: &TestTenant) -> String {
    let s = app.get("/api/v1/settings", &t.admin.token).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let key = s.body["inbound_key"].as_str().unwrap().to_owned();
    assert!(
        s.body["inbound_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/inbound/{key}")),
        "{}",
        s.body
    );
    key
}

async fn deliver(app: &TestApp, key: &str, raw: Vec<u8>) -> Reply {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/inbound/{key}")))
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Reply { status, headers, body }
}

/// Delivers `raw` and expects it to become `outcome`; the ticket's number.
async fn delivered(app: &TestApp, key: &str, raw: Vec<u8>, outcome: &str) -> String {
    let r = deliver(app, key, raw).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["outcome"], outcome, "{}", r.body);
    r.body["ticket"].as_str().unwrap_or_default().to_owned()
}

async fn tickets(app: &TestApp, t: &TestTenant) -> Vec<String> {
    app.get("/api/v1/tickets", &t.admin.token).await.each("number")
}

async fn new_mail_opens_a_ticket_whatever_its_mime_shape(app: TestApp) {
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;

    let n = delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert_eq!(ticket["subject"], "My invoice is wrong");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["channel"], "email");
    assert!(
        ticket["assignee"].is_null(),
        "nobody converted it: {}",
        ticket["assignee"]
    );
    assert_eq!(ticket["requester"]["email"], "grace@example.com");
    assert_eq!(ticket["requester"]["name"], "Grace Hopper");
    assert!(
        ticket["description"]
            .as_str()
            .unwrap()
            .contains("invoice 2026-118 charges me twice"),
        "{}",
        ticket["description"]
    );
    let mail = &ticket["received_mail"][0];
    assert_eq!(mail["message_id"], "<plain-1@mail.example.com>");
    assert_eq!(mail["outcome"], "ticket");
    assert_eq!(mail["via"], "http");

    // multipart/alternative: the plain part, quoted-printable decoded.
    let n = delivered(&app, &key, fixture("alternative.eml"), "ticket").await;
    let d = app.ticket(&t.admin.token, &n).await["description"].clone();
    let d = d.as_str().unwrap();
    assert!(d.contains("says “wrong password” although I reset it twice"), "{d}");
    assert!(!d.contains("HTML VERSION"), "the plain part is preferred: {d}");

    // HTML only: made text, no markup or style left.
    let n = delivered(&app, &key, fixture("html-only.eml"), "ticket").await;
    let d = app.ticket(&t.admin.token, &n).await["description"].clone();
    let d = d.as_str().unwrap();
    assert!(d.contains("The CSV export stops at 500 rows."), "{d}");
    assert!(!d.contains('<') && !d.contains("color"), "{d}");

    // ISO-8859-1 body and encoded-word headers.
    let n = delivered(&app, &key, fixture("latin1.eml"), "ticket").await;
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert_eq!(ticket["subject"], "Réclamation déjà envoyée");
    assert_eq!(ticket["requester"]["name"], "François Müller");
    assert!(
        ticket["description"]
            .as_str()
            .unwrap()
            .contains("n° 42 est arrivée abîmée"),
        "{}",
        ticket["description"]
    );

    // Base64 text with an attachment, listed by name, type and size.
    let n = delivered(&app, &key, fixture("base64.eml"), "ticket").await;
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert!(
        ticket["description"].as_str().unwrap().contains("page 3 is unsigned"),
        "{}",
        ticket["description"]
    );
    let files = &ticket["received_mail"][0]["attachments"];
    assert_eq!(files[0]["name"], "contract.pdf", "{files}");
    assert_eq!(files[0]["content_type"], "application/pdf");
    assert!(files[0]["size"].as_u64().unwrap() > 50, "{files}");

    assert_eq!(tickets(&app, &t).await.len(), 5);
    // A search finds a mail's ticket by its words.
    let found = app.get("/api/v1/tickets?q=commande", &t.admin.token).await;
    assert_eq!(found.each("number").len(), 1, "{:?}", found.body);
}

async fn the_same_mail_delivered_twice_is_one_ticket(app: TestApp) {
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    // A relay's retry, or the same mail fetched twice, at once.
    let (a, b) = tokio::join!(
        deliver(&app, &key, fixture("plain.eml")),
        deliver(&app, &key, fixture("plain.eml"))
    );
    for r in [a, b] {
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        assert_eq!(r.body["outcome"], "duplicate", "{}", r.body);
    }
    // Two at once, neither seen before: one ticket.
    let raw = fixture("alternative.eml");
    let (a, b) = tokio::join!(deliver(&app, &key, raw.clone()), deliver(&app, &key, raw));
    let mut outcomes = [a.body["outcome"].clone(), b.body["outcome"].clone()];
    outcomes.sort_by_key(|o| o.to_string());
    assert_eq!(outcomes, [json!("duplicate"), json!("ticket")]);
    assert_eq!(tickets(&app, &t).await.len(), 2);
}

/// Reads the mails the sink got to `to` until there are `n`.
async fn mails_to(smtp: &SmtpServer, to: &str, n: usize) -> Vec<ReceivedMail> {
    let start = std::time::Instant::now();
    loop {
        let mails: Vec<_> = smtp
            .received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect();
        if mails.len() >= n {
            return mails;
        }
        assert!(start.elapsed() < PATIENCE, "{} of {n} mails to {to}", mails.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replies_join_their_ticket_by_headers_or_reply_address_and_reopen_it(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let r = app.settings(&t, json!({"reply_to": "help@acme.test"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = inbound_key(&app, &t).await;

    // A new request is acknowledged: its number, in a thread answering it,
    // with the ticket's own reply address.
    let n = delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    let ack = mails_to(&smtp, "grace@example.com", 1).await.remove(0);
    assert!(
        ack.header("Subject").unwrap().contains(&format!("[{n}]")),
        "{:?}",
        ack.header("Subject")
    );
    assert!(ack.text().contains(&format!("Its number is {n}")), "{}", ack.text());
    assert_eq!(ack.header("In-Reply-To").as_deref(), Some("<plain-1@mail.example.com>"));
    let reply_to = ack.header("Reply-To").unwrap();
    let tag = format!("help+tk-{}-", &n[3..]);
    assert!(reply_to.contains(&tag) && reply_to.contains("@acme.test"), "{reply_to}");

    // The agent answers; the mail threads under the requester's.
    let r = app
        .post(
            &format!("/api/v1/tickets/{n}/comments"),
            &t.admin.token,
            json!({"body": "We refunded the second charge."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let sent = mails_to(&smtp, "grace@example.com", 2).await.remove(1);
    let sent_id = sent.header("Message-ID").unwrap();
    assert_eq!(
        sent.header("In-Reply-To").as_deref(),
        Some("<plain-1@mail.example.com>")
    );
    let references = sent.header("References").unwrap();
    assert!(references.contains("<plain-1@mail.example.com>"), "{references}");
    assert!(
        references.contains("@threadline.invalid>"),
        "the thread's root: {references}"
    );
    let reply_address = sent.header("Reply-To").unwrap();
    let reply_address =
        reply_address[reply_address.find('<').unwrap() + 1..reply_address.find('>').unwrap()].to_owned();

    // Grace answers from Gmail: her reply, without the history it quotes,
    // joins the ticket as hers.
    let gmail = filled(
        "gmail-reply.eml",
        &[
            ("number", &n),
            ("reply_to", &reply_address),
            ("in_reply_to", &sent_id),
            ("references", &format!("<plain-1@mail.example.com> {sent_id}")),
        ],
    );
    assert_eq!(delivered(&app, &key, gmail, "comment").await, n);
    let ticket = app.ticket(&t.admin.token, &n).await;
    let comment = ticket["comments"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(comment["body"], "Thanks, the corrected invoice is fine now.");
    assert_eq!(comment["source"], "email");
    assert_eq!(comment["author"]["name"], "Grace Hopper");
    assert!(
        comment["delivery"].is_null(),
        "a requester's mail is not mailed back: {comment}"
    );
    let received = ticket["received_mail"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(received["comment_id"], comment["id"]);
    assert_eq!(received["reason"], "threaded by In-Reply-To/References");
    // The whole mail stays readable.
    let original = app
        .client
        .get(app.url(&format!(
            "/api/v1/mail/received/{}/original",
            received["id"].as_str().unwrap()
        )))
        .bearer_auth(&t.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(original.status(), StatusCode::OK);
    let original = original.text().await.unwrap();
    assert!(original.contains("> We refunded the second charge."), "{original}");

    // Solved, then Grace writes again from Outlook: no In-Reply-To, only
    // the reply address. The ticket is open again.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{n}"),
            &t.admin.token,
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let outlook = filled("outlook-reply.eml", &[("number", &n), ("reply_to", &reply_address)]);
    assert_eq!(delivered(&app, &key, outlook, "comment").await, n);
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert_eq!(ticket["status"], "open");
    let comment = ticket["comments"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        comment["body"],
        "Sorry, the December invoice shows the double charge again.\n\nGrace"
    );
    let reopened = ticket["activity"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (reopened["from"].clone(), reopened["to"].clone()),
        (json!("solved"), json!("open"))
    );

    // A forged reply address (another ticket's number, the same mac)
    // threads nothing: it opens a ticket of its own.
    let other = reply_address.replace(&format!("tk-{}-", &n[3..]), "tk-999-");
    let forged = filled("outlook-reply.eml", &[("number", "TK-999"), ("reply_to", &other)])
        .into_iter()
        .collect::<Vec<u8>>();
    let forged = String::from_utf8(forged)
        .unwrap()
        .replace("DB9PR01MB0001", "DB9PR01MB0002")
        .into_bytes();
    let opened = delivered(&app, &key, forged, "ticket").await;
    assert_ne!(opened, n);
    // The requester got no answer to their own answers: two acknowledgements
    // (the first request, the forged one) and one reply.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&smtp, "grace@example.com", 3).await.len(), 3);
}

async fn machines_and_loops_never_open_tickets_nor_get_answers(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    let n = delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    mails_to(&smtp, "grace@example.com", 1).await;

    let auto = filled(
        "auto-reply.eml",
        &[("number", &n), ("in_reply_to", "<plain-1@mail.example.com>")],
    );
    let r = deliver(&app, &key, auto).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.body);
    assert!(
        r.body["reason"].as_str().unwrap().contains("Auto-Submitted"),
        "{}",
        r.body
    );
    let r = deliver(&app, &key, fixture("bounce.eml")).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.body);
    // Our own mail come back (from the server's sending address).
    let own = String::from_utf8(fixture("plain.eml"))
        .unwrap()
        .replace("Grace Hopper <grace@example.com>", "Acme <support@acme.test>")
        .replace("plain-1@", "own-1@")
        .into_bytes();
    let r = deliver(&app, &key, own).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.body);
    assert!(r.body["reason"].as_str().unwrap().contains("loop"), "{}", r.body);

    assert_eq!(tickets(&app, &t).await, vec![n.clone()]);
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert!(
        ticket["comments"].as_array().unwrap().is_empty(),
        "{}",
        ticket["comments"]
    );
    // Admins see what came in and why it became nothing.
    let list = app.get("/api/v1/mail/received", &t.admin.token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.each("outcome"), ["ignored", "ignored", "ignored", "ticket"]);
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/mail/received", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );
    // Nothing was sent to the machines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "only the first acknowledgement");
}

async fn a_reply_to_a_closed_ticket_opens_a_follow_up(app: TestApp) {
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    let n = delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{n}"),
            &t.admin.token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let gmail = filled(
        "gmail-reply.eml",
        &[
            ("number", &n),
            ("reply_to", "support@acme.test"),
            ("in_reply_to", "<plain-1@mail.example.com>"),
            ("references", "<plain-1@mail.example.com>"),
        ],
    );
    let follow_up = delivered(&app, &key, gmail, "ticket").await;
    assert_ne!(follow_up, n);
    let ticket = app.ticket(&t.admin.token, &follow_up).await;
    let linked = &ticket["activity"][0];
    assert_eq!(
        (linked["field"].clone(), linked["to"].clone()),
        (json!("follows"), json!(n))
    );
    assert_eq!(app.ticket(&t.admin.token, &n).await["status"], "closed");
}

async fn a_ticket_number_in_the_subject_threads_only_its_requester(app: TestApp) {
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    let n = delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    let by_subject = |from: &str, id: &str| {
        format!(
            "From: {from}\nTo: support@acme.test\nSubject: Re: [{n}] My invoice is wrong\nMessage-ID: <{id}@x.example>\n\nAny news?\n"
        )
        .into_bytes()
    };
    assert_eq!(
        delivered(&app, &key, by_subject("grace@example.com", "s1"), "comment").await,
        n
    );
    // Anyone can type a number: a stranger's mail is a ticket of its own.
    let other = delivered(&app, &key, by_subject("mallory@example.com", "s2"), "ticket").await;
    assert_ne!(other, n);
    let comments = app.ticket(&t.admin.token, &n).await["comments"].clone();
    assert_eq!(comments.as_array().unwrap().len(), 1, "{comments}");
}

async fn oversized_unknown_and_malformed_mail_is_refused_and_changes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    // 30 MB: a mail with a large attachment, over the 25 MiB default.
    let mut big = fixture("plain.eml");
    big.extend(std::iter::repeat_n(b'a', 30_000_000));
    let r = deliver(&app, &key, big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("at most"),
        "{}",
        r.body
    );
    // 3 MB (over the API's usual JSON limit, under the mail limit) is a
    // ticket, its description cut, the mail kept.
    let mut long = String::from_utf8(fixture("plain.eml"))
        .unwrap()
        .replace("plain-1@", "long-1@");
    long.push_str(&"All work and no play. ".repeat(150_000));
    let n = delivered(&app, &key, long.into_bytes(), "ticket").await;
    let ticket = app.ticket(&t.admin.token, &n).await;
    let description = ticket["description"].as_str().unwrap();
    assert!(
        description.len() < 70_000 && description.ends_with("received mail]"),
        "{}",
        description.len()
    );
    assert!(ticket["received_mail"][0]["size_bytes"].as_i64().unwrap() > 3_000_000);
    // An unknown key.
    let r = deliver(&app, "tli_00000000000000000000000000000000", fixture("plain.eml")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // Not a mail at all.
    let r = deliver(&app, &key, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    // Only the 3 MB mail came in.
    assert_eq!(tickets(&app, &t).await.len(), 1);
    let received = app.get("/api/v1/mail/received", &t.admin.token).await;
    assert_eq!(received.each("id").len(), 1);

    // A rotated key: the old URL stops working, the new one works.
    let r = app.post_empty("/api/v1/settings/inbound-key", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_key = r.body["inbound_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        deliver(&app, &key, fixture("plain.eml")).await.status,
        StatusCode::NOT_FOUND
    );
    delivered(&app, &new_key, fixture("plain.eml"), "ticket").await;
    assert_eq!(tickets(&app, &t).await.len(), 2);
    // Another workspace's key opens a ticket there, never here.
    let other = app.tenant("Globex").await;
    let other_key = inbound_key(&app, &other).await;
    delivered(&app, &other_key, fixture("alternative.eml"), "ticket").await;
    assert_eq!(tickets(&app, &t).await.len(), 2);
}

async fn a_sender_flooding_the_mailbox_stops_opening_tickets(app: TestApp) {
    let app = TestApp::builder(app.db.clone())
        .inbound(InboundSettings {
            per_sender_per_hour: 3,
            ..InboundSettings::default()
        })
        .spawn()
        .await;
    let t = app.tenant("Acme").await;
    let key = inbound_key(&app, &t).await;
    let mail = |i: usize| {
        format!("From: bot@spam.example\nSubject: Buy {i}\nMessage-ID: <flood-{i}@spam.example>\n\nBuy now\n")
            .into_bytes()
    };
    for i in 0..3 {
        delivered(&app, &key, mail(i), "ticket").await;
    }
    let r = deliver(&app, &key, mail(3)).await;
    assert_eq!(r.body["outcome"], "ignored", "{}", r.body);
    assert!(r.body["reason"].as_str().unwrap().contains("in an hour"), "{}", r.body);
    // Others are not held back by them.
    delivered(&app, &key, fixture("plain.eml"), "ticket").await;
    assert_eq!(tickets(&app, &t).await.len(), 4);
}

async fn a_conversion_mails_the_requester_their_ticket_and_transcript(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let (chat, _visitor) = app
        .start_chat(&t, json!({"visitor_name": "Grace", "message": "My parcel never came"}))
        .await;
    app.agent_says(&t.admin.token, &chat, "internal: check the courier", true)
        .await;
    app.agent_says(&t.admin.token, &chat, "Let me look into it", false)
        .await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let n = r.body["number"].as_str().unwrap().to_owned();
    let ack = mails_to(&smtp, "grace@example.com", 1).await.remove(0);
    let text = ack.text();
    assert!(
        ack.header("Subject").unwrap().contains(&format!("[{n}]")),
        "{:?}",
        ack.header("Subject")
    );
    assert!(text.contains(&format!("Its number is {n}")), "{text}");
    assert!(
        text.contains("My parcel never came") && text.contains("Let me look into it"),
        "{text}"
    );
    assert!(!text.contains("courier"), "internal notes stay inside: {text}");
    assert!(
        ack.header("Message-ID").unwrap().starts_with("<ticket-"),
        "{:?}",
        ack.header("Message-ID")
    );

    // Switched off, a conversion mails nothing.
    let r = app.settings(&t, json!({"acknowledge_by_mail": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["acknowledge_by_mail"], false);
    let (chat, _) = app
        .start_chat(&t, json!({"visitor_name": "Ada", "message": "Hello"}))
        .await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "ada@example.org"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        smtp.received().iter().all(|m| m.to != ["ada@example.org"]),
        "no acknowledgement when off"
    );
}
