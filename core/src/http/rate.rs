//! Rate limits on what anonymous clients can start: chats, per workspace
//! and client address; visitor messages, per visitor; sign-ins, per client
//! address, and failed sign-ins per account. A client over a limit gets 429
//! with `Retry-After` before anything is written (or any password hashed).
//!
//! The limits are GCRA buckets: a burst, then a steady rate. On SQLite (one
//! node) they live in memory (`governor`). On PostgreSQL, where several
//! nodes may serve one client, the chat and message buckets and the
//! sign-in lock live in the database every node shares (`store::limits`):
//! one statement per limited request, nothing for routes without a limit.
//! The per-address sign-in bucket stays in each node's memory: it only
//! smooths floods, which the shared per-account lock makes useless anyway.

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
    /// Failed sign-ins for one account (workspace and email) from one
    /// client network within `sign_in_failure_window` after which that
    /// network's sign-ins to the account get 429 until the oldest failure
    /// leaves the window. Other networks are not refused: past twice this
    /// many failures from anywhere, the account's sign-ins are slowed down
    /// instead, one every 1, 2, 4, ... seconds, at most a minute apart.
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
    /// On PostgreSQL: the database every node keeps the shared limits in.
    shared: Option<crate::store::Store>,
    chats: DefaultKeyedRateLimiter<(String, IpAddr)>,
    messages: DefaultKeyedRateLimiter<String>,
    sign_ins: DefaultKeyedRateLimiter<IpAddr>,
    failures: std::sync::Mutex<Failures>,
    settings: RateSettings,
}

/// A sign-in attempt under way; see [`RateLimits::sign_in`].
#[must_use = "say how the attempt ended"]
pub struct Attempt {
    counted: bool,
    network: IpAddr,
}

/// The period and burst of a limit, as the shared buckets take them.
fn period_us(per: Duration, n: u32) -> i64 {
    i64::try_from((per / n.max(1)).as_micros()).unwrap_or(i64::MAX)
}

/// Accounts (and account and network pairs) whose failed sign-ins are kept
/// at once (about 200 bytes each).
const MAX_ACCOUNTS_TRACKED: usize = 200_000;

/// The slowest an account's sign-ins are slowed down to, past the failures
/// let through at once: one a minute.
const MAX_SIGN_IN_DELAY: Duration = Duration::from_secs(60);

/// An account as typed: workspace slug and email, lowercased.
pub type Account = (String, String);

/// Failed sign-ins as the times they happened: a sliding window, exact
/// where a bucket would let a patient attacker through a little faster.
/// Per account and client network, which the lock refuses (a stranger
/// guessing from elsewhere cannot lock the right person out); and per
/// account from anywhere, which slows guesses down across networks.
#[derive(Default)]
struct Failures {
    by_network: std::collections::HashMap<(Account, IpAddr), std::collections::VecDeque<Instant>>,
    by_account: std::collections::HashMap<Account, std::collections::VecDeque<Instant>>,
}

impl Failures {
    fn prune(times: &mut std::collections::VecDeque<Instant>, now: Instant, window: Duration) {
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
    }

    fn push(times: &mut std::collections::VecDeque<Instant>, now: Instant, keep: usize) {
        if times.len() >= keep {
            times.pop_front();
        }
        times.push_back(now);
    }
}

impl RateLimits {
    /// Limits in this node's memory.
    pub fn new(settings: RateSettings) -> Arc<Self> {
        Self::build(settings, None)
    }

    /// Limits shared through `store` when it is PostgreSQL (any number of
    /// nodes), in memory otherwise.
    pub fn for_store(settings: RateSettings, store: &crate::store::Store) -> Arc<Self> {
        let shared = (store.backend() == sea_orm::DbBackend::Postgres).then(|| store.clone());
        Self::build(settings, shared)
    }

    fn build(settings: RateSettings, shared: Option<crate::store::Store>) -> Arc<Self> {
        let quota = |per: Duration, n: u32, burst: u32| {
            let n = n.max(1);
            Quota::with_period(per / n)
                .expect("a positive period")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
        };
        let limits = Arc::new(Self {
            shared,
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
            failures: Default::default(),
            settings,
        });
        spawn_pruning(Arc::downgrade(&limits));
        limits
    }

    /// Counts a chat started from `client` in the workspace.
    pub async fn start_chat(&self, tenant_id: &str, client: IpAddr) -> Result<(), ApiError> {
        if let Some(store) = &self.shared {
            let s = &self.settings;
            let key = format!("chat:{tenant_id}:{client}");
            let period = period_us(Duration::from_secs(3600), s.chats_per_hour);
            return shared_take(store, &key, period, s.chats_burst, "chats started from this address").await;
        }
        self.chats
            .check_key(&(tenant_id.to_owned(), client))
            .map_err(|not_until| too_many("chats started from this address", &not_until))
    }

    /// Counts a message from the visitor.
    pub async fn visitor_message(&self, visitor_id: &str) -> Result<(), ApiError> {
        if let Some(store) = &self.shared {
            let s = &self.settings;
            let key = format!("message:{visitor_id}");
            let period = period_us(Duration::from_secs(60), s.messages_per_minute);
            return shared_take(store, &key, period, s.messages_burst, "messages").await;
        }
        self.messages
            .check_key(&visitor_id.to_owned())
            .map_err(|not_until| too_many("messages", &not_until))
    }

    /// An anonymous request about an account that is not a password guess
    /// (asking for a reset mail, using a mailed link): drawn from the
    /// sign-in bucket of the client's address, so a bot cannot make the
    /// server hash passwords or look up accounts faster than it could sign
    /// in.
    pub async fn account_request(&self, client: IpAddr) -> Result<(), ApiError> {
        self.sign_ins
            .check_key(&client)
            .map_err(|not_until| too_many("account requests from this address", &not_until))
    }

    /// Counts a sign-in attempt from `client`, and refuses one for an
    /// account with too many recent failures from this client's network, or
    /// made sooner than the account's slow-down allows. `account` is the
    /// workspace slug and email as typed (lowercased): whether they exist is
    /// not asked, so a 429 tells nothing about which accounts there are.
    ///
    /// The attempt counts as a failure from now on, until [`Self::signed_in`]
    /// says otherwise: attempts sent all at once are counted before any
    /// password check ends, so they cannot slip past the lock together.
    pub async fn sign_in(&self, client: IpAddr, account: &Account) -> Result<Attempt, ApiError> {
        self.sign_ins
            .check_key(&client)
            .map_err(|not_until| too_many("sign-in attempts from this address", &not_until))?;
        let window = self.settings.sign_in_failure_window;
        let (cap, free) = self.failure_caps();
        if let Some(store) = &self.shared {
            return self.sign_in_shared(store, client, account).await;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap();
        let key = (account.clone(), client);
        if let Some(times) = failures.by_network.get_mut(&key) {
            Failures::prune(times, now, window);
            if times.len() >= cap {
                let seconds = retry_seconds(window.saturating_sub(now.duration_since(times[0])));
                return Err(ApiError::TooManyRequests(
                    format!("too many failed sign-ins for this account from this network; try again in {seconds} s"),
                    seconds,
                ));
            }
        }
        if let Some(times) = failures.by_account.get_mut(account) {
            Failures::prune(times, now, window);
            if let (Some(gap), Some(last)) = (sign_in_delay(times.len(), free), times.back()) {
                let since = now.duration_since(*last);
                if since < gap {
                    let seconds = retry_seconds(gap - since);
                    return Err(ApiError::TooManyRequests(
                        format!("too many failed sign-ins for this account; try again in {seconds} s"),
                        seconds,
                    ));
                }
            }
        }
        if failures.by_network.len() >= MAX_ACCOUNTS_TRACKED || failures.by_account.len() >= MAX_ACCOUNTS_TRACKED {
            // Counted once the account is known to exist (see `failed`).
            return Ok(Attempt {
                counted: false,
                network: client,
            });
        }
        Failures::push(failures.by_network.entry(key).or_default(), now, cap);
        Failures::push(failures.by_account.entry(account.clone()).or_default(), now, free + 64);
        Ok(Attempt {
            counted: true,
            network: client,
        })
    }

    async fn sign_in_shared(
        &self,
        store: &crate::store::Store,
        client: IpAddr,
        account: &Account,
    ) -> Result<Attempt, ApiError> {
        let (cap, free) = self.failure_caps();
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let check = store
            .check_sign_in_shared(
                &shared_account(account),
                &client.to_string(),
                micros(self.settings.sign_in_failure_window),
                cap as i64,
                free as i64,
                micros(MAX_SIGN_IN_DELAY),
            )
            .await?;
        if check.counted.is_some() {
            return Ok(Attempt {
                counted: true,
                network: client,
            });
        }
        let wait = |us: i64| retry_seconds(Duration::from_micros(u64::try_from(us).unwrap_or(0)));
        if check.from_network >= cap as i64 {
            let seconds = wait(check.oldest_leaves_in_us);
            return Err(ApiError::TooManyRequests(
                format!("too many failed sign-ins for this account from this network; try again in {seconds} s"),
                seconds,
            ));
        }
        let gap = sign_in_delay(usize::try_from(check.from_everywhere).unwrap_or(usize::MAX), free).unwrap_or_default();
        let seconds = wait(micros(gap) - check.since_last_us);
        Err(ApiError::TooManyRequests(
            format!("too many failed sign-ins for this account; try again in {seconds} s"),
            seconds,
        ))
    }

    /// Failures let through from one network, and from all of them before
    /// the account's sign-ins are slowed down.
    fn failure_caps(&self) -> (usize, usize) {
        let cap = self.settings.sign_in_failures.max(1) as usize;
        (cap, 2 * cap)
    }

    /// The attempt failed (`exists`: for an account that exists). It was
    /// counted when it began, unless the maps were at their cap then: a
    /// flood of made-up accounts from many addresses costs no more memory
    /// past the cap, and real accounts are still protected.
    pub fn sign_in_failed(&self, account: Account, attempt: Attempt, exists: bool) {
        if attempt.counted || !exists {
            return;
        }
        let (cap, free) = self.failure_caps();
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap();
        Failures::push(
            failures
                .by_network
                .entry((account.clone(), attempt.network))
                .or_default(),
            now,
            cap,
        );
        Failures::push(failures.by_account.entry(account).or_default(), now, free + 64);
    }

    /// A successful sign-in clears the account's failures from everywhere
    /// and from the network it came from; other networks' stay refused.
    pub async fn signed_in(&self, account: &Account, attempt: Attempt) {
        if let Some(store) = &self.shared {
            if let Err(e) = store
                .signed_in_shared(&shared_account(account), &attempt.network.to_string())
                .await
            {
                tracing::warn!(error = %e, "cannot clear an account's failed sign-ins");
            }
            return;
        }
        let mut failures = self.failures.lock().unwrap();
        failures.by_account.remove(account);
        failures.by_network.remove(&(account.clone(), attempt.network));
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

/// An account as the shared lock keys it.
fn shared_account(account: &Account) -> String {
    format!("{}\u{1f}{}", account.0, account.1)
}

async fn shared_take(
    store: &crate::store::Store,
    key: &str,
    period_us: i64,
    burst: u32,
    what: &str,
) -> Result<(), ApiError> {
    match store.take_shared(key, period_us, i64::from(burst.max(1))).await? {
        crate::store::Take::Granted => Ok(()),
        crate::store::Take::Refused { wait_us } => {
            let seconds = retry_seconds(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)));
            Err(ApiError::TooManyRequests(
                format!("too many {what}; try again in {seconds} s"),
                seconds,
            ))
        }
    }
}

fn too_many(what: &str, not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let seconds = retry_seconds(not_until.wait_time_from(DefaultClock::default().now()));
    ApiError::TooManyRequests(format!("too many {what}; try again in {seconds} s"), seconds)
}

/// How long an account's next sign-in must wait after its last failure,
/// with `failed` failures from all networks in the window: nothing up to
/// `free`, then 1 s, doubling with each failure, at most a minute. With the
/// defaults (10 a network, 20 free) an account takes at most about 35
/// guesses in 15 minutes from all the world together, and its owner, from
/// a network of their own, waits at most a minute.
fn sign_in_delay(failed: usize, free: usize) -> Option<Duration> {
    let past = failed.checked_sub(free)?;
    let seconds = 1u64.checked_shl(past.min(16) as u32).unwrap_or(u64::MAX);
    Some(Duration::from_secs(seconds).min(MAX_SIGN_IN_DELAY))
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
            if let Some(store) = &limits.shared {
                let window = i64::try_from(limits.settings.sign_in_failure_window.as_micros()).unwrap_or(i64::MAX);
                if let Err(e) = store.prune_shared_limits(window).await {
                    tracing::warn!(error = %e, "cannot prune the shared rate limits");
                }
            }
            limits.chats.retain_recent();
            limits.messages.retain_recent();
            limits.sign_ins.retain_recent();
            let window = limits.settings.sign_in_failure_window;
            let recent =
                |times: &std::collections::VecDeque<Instant>| times.back().is_some_and(|t| t.elapsed() < window);
            let mut failures = limits.failures.lock().unwrap();
            failures.by_network.retain(|_, times| recent(times));
            failures.by_account.retain(|_, times| recent(times));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slow_down_starts_past_the_free_failures_doubles_and_stops_at_a_minute() {
        assert_eq!(sign_in_delay(19, 20), None);
        let seconds = |failed| sign_in_delay(failed, 20).unwrap().as_secs();
        assert_eq!([20, 21, 22, 23, 25].map(seconds), [1, 2, 4, 8, 32]);
        assert_eq!(seconds(26), 60);
        assert_eq!(seconds(10_000), 60, "no overflow however many");
    }
}
