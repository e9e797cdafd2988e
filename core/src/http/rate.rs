//! Rate limits on what anonymous clients can start: chats, per workspace
//! and client address; visitor messages, per visitor; sign-ins, per client
//! address, and failed sign-ins per account. A client over a limit gets 429
//! with `Retry-After` before anything is written (or any password hashed).
//!
//! The limits are GCRA buckets (`governor`): a burst, then a steady rate.
//! They live in this node's memory: with several nodes behind a load
//! balancer that spreads one client's requests, the client may get up to
//! the limit on each node (pin clients to nodes, or divide the limits).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;

/// The limits, each a burst and a steady rate.
#[derive(Debug, Clone)]
pub struct RateSettings {
    /// Chats one client address may start in a workspace at once...
    pub chats_burst: u32,
    /// ...and then per hour.
    pub chats_per_hour: u32,
    /// Messages one visitor may send at once...
    pub messages_burst: u32,
    /// ...and then per minute.
    pub messages_per_minute: u32,
    /// Sign-in attempts one client address may make in a burst...
    pub sign_ins_burst: u32,
    /// ...and then per minute.
    pub sign_ins_per_minute: u32,
    /// Failed sign-ins for one account (workspace and email) within
    /// `sign_in_failure_window` after which the account's sign-ins get 429
    /// until the oldest failure leaves the window.
    pub sign_in_failures: u32,
    pub sign_in_failure_window: Duration,
    /// Behind a reverse proxy, the client's address is taken from
    /// `X-Forwarded-For`: the entry this many places from the end (1: the
    /// one the nearest proxy added). 0 uses the connection's address.
    pub forwarded_for_hops: usize,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            chats_burst: 100,
            chats_per_hour: 600,
            messages_burst: 30,
            messages_per_minute: 60,
            sign_ins_burst: 30,
            sign_ins_per_minute: 30,
            sign_in_failures: 10,
            sign_in_failure_window: Duration::from_secs(15 * 60),
            forwarded_for_hops: 0,
        }
    }
}

pub struct RateLimits {
    chats: DefaultKeyedRateLimiter<(String, IpAddr)>,
    messages: DefaultKeyedRateLimiter<String>,
    sign_ins: DefaultKeyedRateLimiter<IpAddr>,
    failures: Failures,
    settings: RateSettings,
}

/// A sign-in attempt under way; see [`RateLimits::sign_in`].
#[must_use = "say how the attempt ended"]
pub struct Attempt {
    counted: bool,
}

/// Accounts whose failed sign-ins are kept at once (about 200 bytes each).
const MAX_ACCOUNTS_TRACKED: usize = 200_000;

/// Failed sign-ins per account, as the times they happened (at most the
/// allowed number each): a sliding window, exact where a bucket would let a
/// patient attacker through a little faster.
#[derive(Default)]
struct Failures(std::sync::Mutex<std::collections::HashMap<(String, String), std::collections::VecDeque<Instant>>>);

impl RateLimits {
    pub fn new(settings: RateSettings) -> Arc<Self> {
        let quota = |per: Duration, n: u32, burst: u32| {
            let n = n.max(1);
            Quota::with_period(per / n)
                .expect("a positive period")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
        };
        let limits = Arc::new(Self {
            chats: RateLimiter::keyed(quota(
                Duration::from_secs(3600),
                settings.chats_per_hour,
                settings.chats_burst,
            )),
            messages: RateLimiter::keyed(quota(
                Duration::from_secs(60),
                settings.messages_per_minute,
                settings.messages_burst,
            )),
            sign_ins: RateLimiter::keyed(quota(
                Duration::from_secs(60),
                settings.sign_ins_per_minute,
                settings.sign_ins_burst,
            )),
            failures: Failures::default(),
            settings,
        });
        spawn_pruning(Arc::downgrade(&limits));
        limits
    }

    /// Counts a chat started from `client` in the workspace.
    pub fn start_chat(&self, tenant_id: &str, client: IpAddr) -> Result<(), ApiError> {
        self.chats
            .check_key(&(tenant_id.to_owned(), client))
            .map_err(|not_until| too_many("chats started from this address", &not_until))
    }

    /// Counts a message from the visitor.
    pub fn visitor_message(&self, visitor_id: &str) -> Result<(), ApiError> {
        self.messages
            .check_key(&visitor_id.to_owned())
            .map_err(|not_until| too_many("messages", &not_until))
    }

    /// Counts a sign-in attempt from `client`, and refuses one for an
    /// account with too many recent failures. `account` is the workspace
    /// slug and email as typed (lowercased): whether they exist is not
    /// asked, so a 429 tells nothing about which accounts there are.
    ///
    /// The attempt counts as a failure from now on, until [`Self::signed_in`]
    /// says otherwise: attempts sent all at once are counted before any
    /// password check ends, so they cannot slip past the lock together.
    pub fn sign_in(&self, client: IpAddr, account: &(String, String)) -> Result<Attempt, ApiError> {
        self.sign_ins
            .check_key(&client)
            .map_err(|not_until| too_many("sign-in attempts from this address", &not_until))?;
        let window = self.settings.sign_in_failure_window;
        let cap = self.settings.sign_in_failures.max(1) as usize;
        let now = Instant::now();
        let mut failures = self.failures.0.lock().unwrap();
        if let Some(times) = failures.get_mut(account) {
            while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
                times.pop_front();
            }
            if times.len() >= cap {
                let seconds = retry_seconds(window.saturating_sub(now.duration_since(times[0])));
                return Err(ApiError::TooManyRequests(
                    format!("too many failed sign-ins for this account; try again in {seconds} s"),
                    seconds,
                ));
            }
        } else if failures.len() >= MAX_ACCOUNTS_TRACKED {
            // Counted once the account is known to exist (see `failed`).
            return Ok(Attempt { counted: false });
        }
        failures.entry(account.clone()).or_default().push_back(now);
        Ok(Attempt { counted: true })
    }

    /// The attempt failed (`exists`: for an account that exists). It was
    /// counted when it began, unless the map was at its cap then: a flood
    /// of made-up accounts from many addresses costs no more memory past
    /// the cap, and real accounts are still protected.
    pub fn sign_in_failed(&self, account: (String, String), attempt: Attempt, exists: bool) {
        if attempt.counted || !exists {
            return;
        }
        let cap = self.settings.sign_in_failures.max(1) as usize;
        let mut failures = self.failures.0.lock().unwrap();
        let times = failures.entry(account).or_default();
        if times.len() >= cap {
            times.pop_front();
        }
        times.push_back(Instant::now());
    }

    /// A successful sign-in clears the account's failures.
    pub fn signed_in(&self, account: &(String, String)) {
        self.failures.0.lock().unwrap().remove(account);
    }

    /// The client's address: the connection's, or the forwarded one when
    /// the server is told how many proxies stand in front of it. IPv6
    /// addresses count by their /64, which one subscriber usually holds
    /// whole.
    pub fn client(&self, parts: &Parts) -> IpAddr {
        let connected = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let hops = self.settings.forwarded_for_hops;
        let forwarded = (hops > 0)
            .then(|| {
                let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
                let entries: Vec<&str> = header.split(',').map(str::trim).collect();
                entries
                    .len()
                    .checked_sub(hops)
                    .and_then(|i| entries[i].parse::<IpAddr>().ok())
            })
            .flatten();
        network_of(forwarded.unwrap_or(connected))
    }
}

/// The address limits count a client by: an IPv4 address as it is, an IPv6
/// address by its /64, which one subscriber usually holds whole.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

fn too_many(what: &str, not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let seconds = retry_seconds(not_until.wait_time_from(DefaultClock::default().now()));
    ApiError::TooManyRequests(format!("too many {what}; try again in {seconds} s"), seconds)
}

/// `Retry-After` for a wait: whole seconds, rounded up so a client that
/// waits that long is let through.
fn retry_seconds(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).saturating_add(1)
}

/// Forgets buckets that are full again, once a minute, so the maps hold
/// only recently active clients.
fn spawn_pruning(limits: Weak<RateLimits>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(limits) = limits.upgrade() else { return };
            limits.chats.retain_recent();
            limits.messages.retain_recent();
            limits.sign_ins.retain_recent();
            let window = limits.settings.sign_in_failure_window;
            limits
                .failures
                .0
                .lock()
                .unwrap()
                .retain(|_, times| times.back().is_some_and(|t| t.elapsed() < window));
        }
    });
}
