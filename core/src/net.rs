//! Where the server may connect to on a workspace's behalf: an address on
//! the internet at large, never this machine's or its network's (a hostile
//! workspace admin could otherwise make the server probe 127.0.0.1:5432 or
//! 169.254.169.254). IMAP mailboxes and webhooks check with it.

use std::net::IpAddr;

/// An address on the internet at large, not this machine's or its network's.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The public addresses `host` resolves to (all of them when
/// `allow_private`); an error an admin reads when there are none.
pub async fn resolve_public(host: &str, port: u16, allow_private: bool) -> Result<Vec<std::net::SocketAddr>, String> {
    let found: Vec<std::net::SocketAddr> = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::lookup_host((host, port)),
    )
    .await
    .map_err(|_| format!("{host} did not resolve within 10 s"))?
    .map_err(|e| format!("{host} does not resolve: {e}"))?
    .collect();
    let usable: Vec<std::net::SocketAddr> = found.into_iter().filter(|a| allow_private || public(a.ip())).collect();
    if usable.is_empty() {
        return Err(format!(
            "{host} is not reachable on a public address (a loopback, private or link-local one is refused)"
        ));
    }
    Ok(usable)
}

/// Resolves names to public addresses only (all of them when private ones
/// are allowed), so a name cannot point the server at this machine's
/// network, however it resolves at the moment of sending.
pub struct PublicOnly {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs = crate::net::resolve_public(name.as_str(), 0, allow)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}
