//! Server processes of their own, for tests that measure memory or CPU, or
//! kill a server: the `threadline` binary started on port 0, its log kept.

use std::time::Duration;

/// This process's resident memory, from `/proc` (Linux).
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") << 10
}

/// The most this process has held resident since it started (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") << 10
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a Linux /proc");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
}

/// A server process of its own (so that its memory and CPU time are only
/// its own), stopped when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    pub fn start(db_url: &str, cache: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_with_env(db_url, cache, extra, &[])
    }

    /// With environment variables of the test's choosing (`RUST_LOG` is
    /// `warn` unless given).
    pub fn start_with_env(db_url: &str, cache: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", db_url, cache, extra, env)
    }

    /// On the address `bind` (a node restarted where a balancer expects it).
    pub fn start_on(bind: &str, db_url: &str, cache: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = std::process::Command::new(threadline_cli());
        command
            .args(["serve", "--bind", bind, "--database-url", db_url, "--plugin-cache"])
            .arg(cache)
            .args(extra)
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("the server says where it listens").unwrap();
            if let Some(rest) = line.strip_prefix("Threadline is listening on ") {
                break rest.split(' ').next().unwrap().to_owned();
            }
        };
        // Keep reading its log so it never blocks on a full pipe; keep the
        // lines for tests that read them.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Self { child, base, log }
    }

    /// What the server has written to its log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Built-in plugins this server compiled (made, not read from its
    /// cache), from its log; it must log at `threadline=info`.
    pub fn builtins_compiled(&self) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains("compiled a built-in plugin"))
            .count()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as an orchestrator stopping a node does.
    pub fn terminate(&self) {
        // SAFETY: kill(2) with our own child's pid and a valid signal.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Waits up to `limit` for the process to exit; how long it took, or
    /// `None` if it is still running.
    pub fn exited_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if self.child.try_wait().ok().flatten().is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn rss(&self) -> u64 {
        rss_bytes(self.child.id())
    }
}

impl ServerProcess {
    /// Converts `chat` on this server as `token`'s agent, with the e-mail
    /// the tests use: the new ticket, and how long the request took.
    pub async fn convert(&self, http: &reqwest::Client, token: &str, chat: &str) -> (serde_json::Value, Duration) {
        let started = std::time::Instant::now();
        let r = http
            .post(format!("{}/api/v1/chats/{chat}/conversion", self.base))
            .bearer_auth(token)
            .json(&serde_json::json!({"visitor_email": "grace@example.com"}))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        (r.json().await.unwrap(), took)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system, all threads) a process has used so far, from
/// `/proc/PID/stat` (Linux; clock ticks of 10 ms).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields that follow it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system; it has no
    // preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// The `threadline` command as this package builds it (`threadline-cli`),
/// beside the test and bench binaries (which live in `deps/` below it).
pub fn threadline_cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().expect("a folder");
    [dir.join("threadline-cli"), dir.join("../threadline-cli")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no threadline-cli binary near {}", exe.display()))
}
