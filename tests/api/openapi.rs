//! The OpenAPI document describes every route the server answers.

use reqwest::{Method, StatusCode};
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(the_openapi_document_lists_every_route);

async fn the_openapi_document_lists_every_route(app: TestApp) {
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = &r.body["paths"];
    for (path, method) in [
        ("/api/v1/widget/{widget_key}/chats", "post"),
        ("/api/v1/widget/chats/{chat_id}/messages", "post"),
        ("/api/v1/widget/chats/{chat_id}", "get"),
        ("/api/v1/widget/chats/{chat_id}/rating", "post"),
        ("/api/v1/chats", "get"),
        ("/api/v1/chats/{chat_id}", "get"),
        ("/api/v1/chats/{chat_id}/messages", "post"),
        ("/api/v1/chats/{chat_id}/close", "post"),
        ("/api/v1/chats/{chat_id}/reopen", "post"),
        ("/api/v1/chats/{chat_id}/conversion", "get"),
        ("/api/v1/chats/{chat_id}/conversion", "post"),
        ("/api/v1/chats/{chat_id}/conversion/preview", "post"),
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/reports/{report}", "get"),
        ("/api/v1/tickets/{number}", "get"),
        ("/api/v1/settings", "get"),
        ("/api/v1/settings", "put"),
        ("/api/v1/settings/inbound-key", "post"),
        ("/api/v1/settings/imap", "get"),
        ("/api/v1/settings/imap", "put"),
        ("/api/v1/settings/imap", "delete"),
        ("/api/v1/inbound/{inbound_key}", "post"),
        ("/api/v1/mail/received", "get"),
        ("/api/v1/mail/received/{id}/original", "get"),
        ("/api/v1/widget/{widget_key}/messages", "post"),
        ("/api/v1/contacts", "get"),
        ("/api/v1/contacts/{contact_id}", "get"),
        ("/api/v1/contacts/{contact_id}", "delete"),
        ("/api/v1/contacts/{contact_id}/export", "get"),
        ("/api/v1/audit", "get"),
        ("/api/v1/plugins", "post"),
        ("/api/v1/plugins", "get"),
        ("/api/v1/plugins/{id}", "delete"),
        ("/api/v1/plugins/faults", "get"),
        ("/api/v1/plugins/logs", "get"),
        ("/api/v1/plugins/usage", "get"),
        ("/api/v1/pipeline", "get"),
        ("/api/v1/pipeline", "put"),
        ("/api/v1/auth/sign-in", "post"),
        ("/api/v1/auth/sign-out", "post"),
        ("/api/v1/auth/session", "get"),
        ("/api/v1/auth/password", "put"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{token_id}", "delete"),
        ("/api/v1/chats/{chat_id}/hook-input", "get"),
        ("/api/v1/pipeline/shadow", "post"),
        ("/api/v1/pipeline/history", "get"),
        ("/api/v1/pipeline/hooks", "get"),
        ("/api/v1/pipeline/rollback", "post"),
        ("/api/v1/pipeline/rollout", "get"),
        ("/api/v1/pipeline/rollout", "post"),
        ("/api/v1/pipeline/rollout", "delete"),
        ("/api/v1/pipeline/rollout/promote", "post"),
        ("/api/v1/tickets/{number}", "patch"),
        ("/api/v1/tickets/{number}/comments", "post"),
        ("/api/v1/agents", "get"),
        ("/api/v1/agents/{agent_id}", "patch"),
        ("/api/v1/agents/me/availability", "put"),
        ("/api/v1/agents/invitations", "get"),
        ("/api/v1/agents/invitations", "post"),
        ("/api/v1/agents/invitations/{invitation_id}/resend", "post"),
        ("/api/v1/agents/invitations/{invitation_id}", "delete"),
        ("/api/v1/auth/invitation", "post"),
        ("/api/v1/auth/password-reset", "post"),
        ("/api/v1/auth/password-reset/complete", "post"),
        ("/api/v1/widget/{widget_key}/presence", "get"),
        ("/api/v1/chats/{chat_id}", "patch"),
        ("/api/v1/chats/counts", "get"),
        ("/api/v1/automations", "get"),
        ("/api/v1/automations", "post"),
        ("/api/v1/automations/{id}", "get"),
        ("/api/v1/automations/{id}", "patch"),
        ("/api/v1/automations/{id}", "delete"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{id}", "patch"),
        ("/api/v1/webhooks/{id}", "delete"),
        ("/api/v1/webhooks/{id}/deliveries", "get"),
        ("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", "post"),
        ("/api/v1/canned-replies", "get"),
        ("/api/v1/canned-replies", "post"),
        ("/api/v1/canned-replies/{id}", "patch"),
        ("/api/v1/canned-replies/{id}", "delete"),
        ("/api/v1/chats/{chat_id}/spam", "post"),
        ("/api/v1/blocks", "get"),
        ("/api/v1/blocks/{block_id}", "delete"),
        ("/api/operator/v1/workspaces", "get"),
        ("/api/operator/v1/workspaces", "post"),
        ("/api/operator/v1/workspaces/{id}", "get"),
        ("/api/operator/v1/workspaces/{id}", "patch"),
        ("/api/operator/v1/workspaces/{id}", "delete"),
        ("/api/operator/v1/workspaces/{id}/export", "get"),
        ("/api/operator/v1/workspaces/import", "post"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let documented: usize = paths
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, 95, "a route was added without a test line above");
    // Answers shared by kind are declared once for the document: 403 where
    // the route needs an admin (the `admin` scope), 400 for a JSON body.
    let put_pipeline = &paths["/api/v1/pipeline"]["put"];
    assert_eq!(put_pipeline["security"][0]["agent_token"], serde_json::json!(["admin"]));
    assert_eq!(put_pipeline["responses"]["403"]["description"], "Admins only");
    assert_eq!(put_pipeline["responses"]["400"]["description"], "Malformed JSON");
    let list_chats = &paths["/api/v1/chats"]["get"];
    assert!(list_chats["responses"]["403"].is_null(), "agents may list chats");
    assert!(list_chats["responses"]["400"].is_null(), "no body to be malformed");
    assert!(r.body["components"]["schemas"]["TicketView"].is_object());
    // OpenAPI requires a description on every response (validators refuse
    // the document without one).
    for (path, item) in paths.as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status} has no description"
                );
            }
            if op["security"].is_array() {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} does not document 401"
                );
            }
        }
    }
    // Fields the server requires are required in the document too, even
    // where the Rust type is an Option (to answer a missing one with a 422).
    let schemas = &r.body["components"]["schemas"];
    assert_eq!(
        schemas["ConvertRequest"]["required"],
        serde_json::json!(["visitor_email"])
    );
    assert_eq!(
        schemas["StartChatRequest"]["required"],
        serde_json::json!(["visitor_name", "message"])
    );
    assert_eq!(schemas["RatingRequest"]["properties"]["score"]["maximum"], 5);
}
