//! The IMAP poller: every node runs one; it claims the workspaces'
//! mailboxes nobody holds (a lease in the database, see
//! `store::mailboxes`), and for each reads the unseen mail, hands it to the
//! [`Receiver`], and marks it `\Seen` only once what it became is
//! committed. A crash between the two leaves the mail unseen: it is read
//! again and, its Message-ID known, imported once. Between polls it waits
//! in IDLE where the server has it (new mail is read at once), or sleeps.

use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use chrono::Utc;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::inbound::{ReceiveError, Receiver};
use crate::store::{Mailbox, Store, Via};

/// How the poller works.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    /// The longest wait between two reads of a mailbox (IDLE ends sooner
    /// when mail comes).
    pub poll_interval: Duration,
    /// How long a claimed mailbox is this node's without renewing: longer
    /// than a poll.
    pub lease: Duration,
    /// The pause before a failing mailbox is tried again.
    pub retry_after: Duration,
    /// Let workspaces' mailboxes be on loopback, private or link-local
    /// addresses. Off by default: an admin must not make the server probe
    /// its own network (`--imap-allow-private-hosts` for a mail server
    /// beside it).
    pub allow_private: bool,
}

impl Default for ImapSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(60),
            lease: Duration::from_secs(180),
            retry_after: Duration::from_secs(60),
            allow_private: false,
        }
    }
}

/// A connection: plain TCP or TLS, behind one type.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Connection for T {}
type Stream = Box<dyn Connection>;

/// One IMAP exchange (connect, a command) at most.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Poller {
    store: Store,
    receiver: Receiver,
    settings: ImapSettings,
    /// This node's name in leases.
    node: String,
}

impl Poller {
    pub fn new(store: Store, receiver: Receiver, settings: ImapSettings) -> Self {
        Self {
            store,
            receiver,
            settings,
            node: format!("node-{}", crate::store::new_id()),
        }
    }

    /// Claims free mailboxes and watches each, forever (the server aborts
    /// it at shutdown, and with it every watch: a lease left behind runs
    /// out).
    pub async fn run(self) {
        let mut watching = tokio::task::JoinSet::new();
        loop {
            while watching.try_join_next().is_some() {}
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
            match self.store.claim_mailboxes(&self.node, now, until, 16).await {
                Ok(claimed) => {
                    for mailbox in claimed {
                        watching.spawn(self.clone().watch(mailbox));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim mailboxes"),
            }
            tokio::time::sleep(self.settings.poll_interval.min(Duration::from_secs(5))).await;
        }
    }

    /// Reads `mailbox` while this node holds it.
    async fn watch(self, mailbox: Mailbox) {
        let tenant = mailbox.tenant_id.clone();
        let error = match self.session(&mailbox).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(tenant = %tenant, host = %mailbox.host, error = %e, "IMAP mailbox failed");
                Some(e)
            }
        };
        let retry = Utc::now() + chrono::Duration::from_std(self.settings.retry_after).unwrap_or_default();
        let until = if error.is_some() { retry } else { Utc::now() };
        if let Err(e) = self
            .store
            .release_mailbox(&tenant, &self.node, until, error.as_deref())
            .await
        {
            tracing::warn!(error = %e, "cannot release a mailbox");
        }
    }

    /// One connection's life: log in, then read, wait, read… until the
    /// lease is lost. An error ends it (and is kept on the mailbox).
    async fn session(&self, mailbox: &Mailbox) -> Result<(), String> {
        let mut session = connect(mailbox, self.settings.allow_private).await?;
        let idle = timed(session.capabilities()).await?.has_str("IDLE");
        timed(session.select(&mailbox.folder)).await?;
        loop {
            self.read_unseen(&mut session, mailbox).await?;
            let until = Utc::now() + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
            let held = self
                .store
                .renew_mailbox(&mailbox.tenant_id, &self.node, until, None)
                .await
                .map_err(|e| e.to_string())?;
            if !held {
                let _ = timed(session.logout()).await;
                return Ok(());
            }
            if idle {
                let mut handle = session.idle();
                timed(handle.init()).await?;
                let (wait, _stop) = handle.wait_with_timeout(self.settings.poll_interval);
                match wait.await.map_err(|e| e.to_string())? {
                    IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt => {}
                }
                session = timed(handle.done()).await?;
            } else {
                tokio::time::sleep(self.settings.poll_interval).await;
            }
        }
    }

    /// Imports every unseen message, marking each seen once committed.
    async fn read_unseen(&self, session: &mut Session<Stream>, mailbox: &Mailbox) -> Result<(), String> {
        let workspace = self.store.tenant(&mailbox.tenant_id).await.map_err(|e| e.to_string())?;
        let mut uids: Vec<u32> = timed(session.uid_search("UNSEEN")).await?.into_iter().collect();
        uids.sort_unstable();
        let max = self.receiver.settings().max_bytes;
        for uid in uids {
            let set = uid.to_string();
            let size = fetch_one(session, &set, "RFC822.SIZE").await?.and_then(|f| f.size);
            if size.is_some_and(|s| s as usize > max) {
                // Flagged for a person to look at; never downloaded.
                tracing::warn!(tenant = %mailbox.tenant_id, uid, size, max, "an IMAP message is over the size limit");
                mark(session, &set, "+FLAGS (\\Seen \\Flagged)").await?;
                continue;
            }
            let Some(raw) = fetch_one(session, &set, "BODY.PEEK[]")
                .await?
                .and_then(|f| f.body().map(<[u8]>::to_vec))
            else {
                continue;
            };
            match self.receiver.receive(&workspace, &raw, Via::Imap).await {
                Ok(_) => {}
                Err(ReceiveError::NotAMessage(e)) => {
                    tracing::warn!(tenant = %mailbox.tenant_id, uid, error = %e, "an IMAP message is not a mail");
                }
                Err(ReceiveError::TooLarge { .. }) => {}
                // Not marked: read again at the next poll.
                Err(ReceiveError::Store(e)) => return Err(format!("cannot store a received mail: {e}")),
            }
            mark(session, &set, "+FLAGS (\\Seen)").await?;
        }
        Ok(())
    }
}

async fn timed<T, E: std::fmt::Display>(f: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the IMAP server did not answer in time".to_owned()),
    }
}

async fn fetch_one(
    session: &mut Session<Stream>,
    set: &str,
    what: &str,
) -> Result<Option<async_imap::types::Fetch>, String> {
    let mut fetched = timed(session.uid_fetch(set, what)).await?;
    let mut found = None;
    while let Some(item) = fetched.next().await {
        let item = item.map_err(|e| e.to_string())?;
        if found.is_none() {
            found = Some(item);
        }
    }
    Ok(found)
}

async fn mark(session: &mut Session<Stream>, set: &str, flags: &str) -> Result<(), String> {
    let mut updates = timed(session.uid_store(set, flags)).await?;
    while let Some(u) = updates.next().await {
        u.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Connects and logs in, over TLS (`tls`: from the start; `starttls`:
/// after the greeting) or in the clear (`none`: loopback and tests).
async fn connect(m: &Mailbox, allow_private: bool) -> Result<Session<Stream>, String> {
    // Resolved and checked here, and connected to the address checked (a
    // name that resolves anew cannot slip past).
    let resolved: Vec<std::net::SocketAddr> = timed(tokio::net::lookup_host((m.host.as_str(), m.port as u16)))
        .await?
        .collect();
    let Some(addr) = resolved.iter().find(|a| allow_private || crate::net::public(a.ip())) else {
        return Err(format!(
            "{} is not reachable on a public address (a loopback, private or link-local one is refused)",
            m.host
        ));
    };
    let tcp = timed(TcpStream::connect(addr)).await?;
    let stream: Stream = match m.security.as_str() {
        "tls" => Box::new(tls(&m.host, tcp).await?),
        "starttls" => {
            let mut client = async_imap::Client::new(tcp);
            timed(async { client.read_response().await }).await?;
            timed(client.run_command_and_check_ok("STARTTLS", None)).await?;
            Box::new(tls(&m.host, client.into_inner()).await?)
        }
        _ => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    if m.security != "starttls" {
        timed(async { client.read_response().await }).await?;
    }
    match tokio::time::timeout(IO_TIMEOUT, client.login(&m.username, &m.password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(format!("cannot log in as {}: {e}", m.username)),
        Err(_) => Err("the IMAP server did not answer in time".to_owned()),
    }
}

async fn tls(host: &str, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let roots = tokio_rustls::rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    timed(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp)).await
}

#[cfg(test)]
mod tests {
    use crate::net::public;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for open in ["1.1.1.1", "142.250.74.36", "2a00:1450:4007:80e::200e"] {
            assert!(public(open.parse().unwrap()), "{open}");
        }
    }
}
