//! Outbound HTTP for plugins (contract 0.4.0): the host makes each request
//! a plugin asks for, only to a host the workspace's admin allowed for
//! that hook, over HTTPS (plain HTTP only to hosts the server is told to
//! trust), to a public address (unless the server allows private ones),
//! within the call's deadline and body caps; and notes each in the plugin
//! log.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request body at most.
pub const MAX_REQUEST_BYTES: usize = 256 << 10;
/// A response body at most.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Requests one call may make.
pub const MAX_REQUESTS_PER_CALL: u32 = 8;
/// Hosts a hook may allow.
pub const MAX_ALLOWED_HOSTS: usize = 16;

/// The server's side of outbound calls, shared by every call.
pub struct OutboundSettings {
    /// Connect to loopback and private addresses too (tests, a model
    /// served on the same machine).
    pub allow_private: bool,
    /// Hosts reached over plain HTTP (`host` or `host:port`).
    pub http_hosts: Vec<String>,
    client: reqwest::Client,
}

impl OutboundSettings {
    pub fn new(allow_private: bool, http_hosts: Vec<String>) -> Self {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(crate::net::PublicOnly { allow_private }))
            // A redirect could lead anywhere: the plugin follows one itself,
            // to a host it was allowed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("threadline-plugin/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            allow_private,
            http_hosts,
            client,
        }
    }
}

/// What one hook's calls may reach.
#[derive(Clone)]
pub struct Grant {
    pub settings: Arc<OutboundSettings>,
    pub allowed_hosts: Arc<[String]>,
}

/// A grant for the length of one call.
pub(crate) struct CallOutbound {
    pub grant: Grant,
    pub deadline: Instant,
    pub made: u32,
}

/// A request in the host's terms.
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Whether `allowed` (`host` or `host:port`) names this host and port.
fn names(allowed: &str, host: &str, port: u16) -> bool {
    match allowed.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h.eq_ignore_ascii_case(host) && p.parse() == Ok(port),
        _ => allowed.eq_ignore_ascii_case(host),
    }
}

/// Checks an admin's list of allowed hosts: names (or addresses) with an
/// optional port, no scheme or path; the reason names the entry.
pub fn check_allowed_hosts(hosts: &[String]) -> Result<(), String> {
    if hosts.len() > MAX_ALLOWED_HOSTS {
        return Err(format!("at most {MAX_ALLOWED_HOSTS} hosts may be allowed"));
    }
    for h in hosts {
        let url = format!("https://{h}/");
        let parsed = reqwest::Url::parse(&url).ok();
        let plain = parsed
            .as_ref()
            .is_some_and(|u| u.path() == "/" && u.username().is_empty() && u.query().is_none());
        if h.is_empty() || h.len() > 253 || h.contains(['/', '@', '?', '#', ' ']) || !plain {
            return Err(format!(
                "{h:?} is not a host: give a name or address, with a port if it is not the default (api.example.com, \
                 10.0.0.5:8080)"
            ));
        }
    }
    Ok(())
}

/// Makes `req` under `call`'s grant; the outcome, and the line the plugin
/// log shows for it.
pub(crate) async fn fetch(call: &mut CallOutbound, req: Request) -> (Result<Response, String>, String) {
    let started = Instant::now();
    let method_url = format!("{} {}", req.method, clip(&req.url, 300));
    let outcome = send(call, req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let line = match &outcome {
        Ok(r) => format!(
            "http: {method_url} → {} in {ms:.0} ms, {} bytes",
            r.status,
            r.body.len()
        ),
        Err(e) => format!("http: {method_url} refused or failed after {ms:.0} ms: {e}"),
    };
    (outcome, line)
}

async fn send(call: &mut CallOutbound, req: Request) -> Result<Response, String> {
    if call.made >= MAX_REQUESTS_PER_CALL {
        return Err(format!("a call may make at most {MAX_REQUESTS_PER_CALL} requests"));
    }
    call.made += 1;
    let url = reqwest::Url::parse(&req.url).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let settings = &call.grant.settings;
    if !call.grant.allowed_hosts.iter().any(|a| names(a, &host, port)) {
        return Err(format!(
            "{host} is not among the hosts this hook's plugin may call (allowed_hosts: [{}])",
            call.grant.allowed_hosts.join(", ")
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if settings.http_hosts.iter().any(|a| names(a, &host, port)) => {}
        "http" => return Err(format!("{host} is reached over https:// only")),
        other => return Err(format!("{other}:// is not HTTP")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL must not carry a user name or password; send a header".into());
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>()
        && !settings.allow_private
        && !crate::net::public(ip)
    {
        return Err(format!("{host} is a loopback, private or link-local address"));
    }
    let method = match req.method.to_ascii_uppercase().as_str() {
        "GET" => reqwest::Method::GET,
        "POST" => reqwest::Method::POST,
        "PUT" => reqwest::Method::PUT,
        "PATCH" => reqwest::Method::PATCH,
        "DELETE" => reqwest::Method::DELETE,
        other => {
            return Err(format!(
                "the method {other:?} is not one of GET, POST, PUT, PATCH, DELETE"
            ));
        }
    };
    if req.body.len() > MAX_REQUEST_BYTES {
        return Err(format!(
            "the body is {} bytes, over the {} KiB a request may send",
            req.body.len(),
            MAX_REQUEST_BYTES >> 10
        ));
    }
    // A tenth of what is left (20 to 250 ms) stays the plugin's, so a
    // request that takes too long still leaves it time to fall back.
    let left = call.deadline.saturating_duration_since(Instant::now());
    let spare = (left / 10).clamp(Duration::from_millis(20), Duration::from_millis(250));
    let left = left.saturating_sub(spare);
    if left < Duration::from_millis(1) {
        return Err("the call's time limit has passed".into());
    }
    let mut builder = settings.client.request(method, url).timeout(left).body(req.body);
    for (k, v) in req.headers.iter().take(64) {
        if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        builder = builder.header(k.as_str(), v.as_str());
    }
    let work = async {
        let mut response = builder.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .take(64)
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(format!("the response is over {} MiB", MAX_RESPONSE_BYTES >> 20));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!("the response is over {} MiB", MAX_RESPONSE_BYTES >> 20));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body })
    };
    match tokio::time::timeout(left, work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "no answer within {} ms, what the call's time limit left it",
            left.as_millis()
        )),
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within what the call's time limit left it".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    clip(&text, 300)
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_host_names_its_port_or_any() {
        assert!(names("api.example.com", "API.example.com", 443));
        assert!(names("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!names("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(!names("example.com", "api.example.com", 443));
    }

    fn call(allow_private: bool, allowed: &[&str]) -> CallOutbound {
        CallOutbound {
            grant: Grant {
                settings: Arc::new(OutboundSettings::new(allow_private, vec!["127.0.0.1".into()])),
                allowed_hosts: allowed.iter().map(|h| (*h).to_owned()).collect(),
            },
            deadline: Instant::now() + Duration::from_secs(2),
            made: 0,
        }
    }

    fn get(url: &str) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Allowed by the workspace is not enough: the server refuses its own
    /// machine and network unless it is told otherwise, by address and by
    /// a name that resolves there.
    #[tokio::test]
    async fn loopback_is_refused_unless_the_server_allows_private_addresses() {
        let mut c = call(false, &["127.0.0.1", "localhost"]);
        let (refused, line) = fetch(&mut c, get("http://127.0.0.1:9/")).await;
        assert!(refused.unwrap_err().contains("loopback"), "{line}");
        let (refused, _) = fetch(&mut c, get("https://localhost:9/")).await;
        let why = refused.err().unwrap();
        assert!(why.contains("public address"), "{why}");
        // Plain HTTP only to the hosts the server trusts with it.
        let mut c = call(true, &["example.com"]);
        let (refused, _) = fetch(&mut c, get("http://example.com/")).await;
        assert!(refused.unwrap_err().contains("https:// only"));
        let (refused, _) = fetch(&mut c, get("ftp://example.com/")).await;
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn a_call_makes_at_most_its_share_of_requests() {
        let mut c = call(false, &[]);
        for _ in 0..MAX_REQUESTS_PER_CALL {
            let (refused, _) = fetch(&mut c, get("https://example.com/")).await;
            assert!(refused.unwrap_err().contains("not among the hosts"));
        }
        let (refused, _) = fetch(&mut c, get("https://example.com/")).await;
        assert!(refused.unwrap_err().contains("at most 8 requests"));
    }

    #[test]
    fn allowed_hosts_are_plain_hosts() {
        assert!(check_allowed_hosts(&["api.example.com".into(), "10.0.0.5:8080".into()]).is_ok());
        for bad in ["https://x.com", "x.com/v1", "user@x.com", ""] {
            assert!(check_allowed_hosts(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
