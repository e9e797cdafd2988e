//! `threadline serve --demo`: a workspace to try the product with.

use anyhow::Result;

use crate::domain::EmailAddress;
use crate::domain::password::Password;
use crate::store::{NewMessage, Store};

/// A fresh demo workspace: an admin agent, and a visitor's chat with a reply
/// and an internal note, ready to convert.
pub(super) async fn seed(store: &Store, base: &str) -> Result<()> {
    let email = EmailAddress::parse("email", "alex@demo.threadline.test")?;
    let created = store.create_tenant("Demo", "Alex Agent", &email).await?;
    let tenant = &created.tenant;
    // A fresh password each run: a demo left listening must not share one
    // with every other demo.
    let password = format!("demo-{:016x}", rand::random::<u64>());
    store
        .set_password(
            &tenant.id,
            &created.admin.agent.id,
            &Password::parse("password", &password)?.hash(),
        )
        .await?;
    let (chat, visitor_token) = store
        .start_chat(
            tenant,
            "Ada Lovelace",
            Some("ada@example.com"),
            Some("Refund for order #4521"),
            "Hi! I was charged twice for order #4521.",
            None,
        )
        .await?;
    let agent = &created.admin.agent;
    let reply = |body: &str, internal| NewMessage {
        kind: if internal {
            crate::domain::MessageKind::InternalNote
        } else {
            crate::domain::MessageKind::Agent
        },
        author_name: agent.name.clone(),
        agent_id: Some(agent.id.clone()),
        body: body.to_owned(),
    };
    store
        .post_message(
            &tenant.id,
            &chat.id,
            &reply("Sorry about that! Let me check with billing.", false),
        )
        .await?;
    store
        .post_message(
            &tenant.id,
            &chat.id,
            &reply("Billing needs a day: convert to a ticket.", true),
        )
        .await?;
    let token = &created.admin.token;
    println!(
        "\nDemo workspace {slug:?} is ready.\n\
         \n  Workspace:     {slug}\
         \n  Email:         {email}\
         \n  Password:      {password}\
         \n  API token:     {token}\
         \n  Widget key:    {wk}\
         \n  Visitor token: {visitor_token}\
         \n  A chat to convert: {chat_id}\n\
         \nIn a browser:\n  Agent console:  {base}/console (sign in with the workspace, email and password above)\
         \n  Visitor widget: {base}/widget?key={wk}\n\
         \nTry:\n  curl -s {base}/api/v1/chats/{chat_id} -H 'Authorization: Bearer {token}'\n  \
         curl -s -X POST {base}/api/v1/chats/{chat_id}/conversion -H 'Authorization: Bearer {token}' \
         -H 'Content-Type: application/json' -d '{{\"visitor_email\": \"ada@example.com\"}}'\n",
        slug = tenant.slug,
        email = email.as_str(),
        wk = tenant.widget_key,
        chat_id = chat.id,
    );
    Ok(())
}
