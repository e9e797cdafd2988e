//! A real IMAP server for the tests: Dovecot from Debian's packages
//! (`dovecot-imapd`, which `.ci/run` installs), started on a free loopback
//! port with a configuration, a mail folder and a password file of its
//! own in a temporary folder, and stopped when dropped. Without Dovecot
//! the IMAP tests are skipped with a loud notice, unless `CI` is set: then
//! they fail.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

/// The mailbox's one user.
pub const USER: &str = "support";
pub const PASSWORD: &str = "imap-test-password";

pub struct ImapServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ImapServer {
    /// Dovecot on a free port, or `None` (said loudly) when it is not
    /// installed and CI does not require it.
    pub async fn start() -> Option<Self> {
        let Some(binary) = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            let message = "Dovecot is not installed (apt-get install dovecot-imapd): the IMAP test cannot run";
            if std::env::var_os("CI").is_some() {
                panic!("{message}, and CI requires it");
            }
            eprintln!("\n!!! SKIPPED: {message} !!!\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let port = crate::smtp::unused_addr().port();
        // As root, Dovecot runs its login and mail processes as its own
        // unprivileged users (the package makes them); otherwise as us.
        let root_user = unsafe { libc::geteuid() } == 0;
        let (internal, login, mail_user) = if root_user {
            ("dovecot", "dovenull", "dovecot")
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            (leak(me.clone()), leak(me.clone()), leak(me))
        };
        if root_user {
            let status = Command::new("chown")
                .args(["-R", "dovecot:dovecot"])
                .arg(root.join("mail"))
                .status()
                .unwrap();
            assert!(status.success(), "cannot give the mail folder to dovecot");
        }
        let d = root.display();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{d}/mail/%u\nfirst_valid_uid = 1\n\
             default_internal_user = {internal}\ndefault_internal_group = {internal}\ndefault_login_user = {login}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_user} gid={mail_user} home={d}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\nservice anvil {{\n  chroot =\n}}\n"
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot starts");
        let server = Self { port, child, _dir: dir };
        let start = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot never listened on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        client.login(USER, PASSWORD).await.map_err(|(e, _)| e).unwrap()
    }

    /// Puts `raw` in the inbox, unseen, as a mail server delivering it would.
    pub async fn deliver(&self, raw: &[u8]) {
        let mut s = self.session().await;
        s.append("INBOX", None, None, raw).await.unwrap();
        s.logout().await.unwrap();
    }

    /// How many of the inbox's messages are unseen, and how many in all.
    pub async fn unseen_of(&self) -> (usize, usize) {
        let mut s = self.session().await;
        let all = s.select("INBOX").await.unwrap().exists as usize;
        let unseen = s.search("UNSEEN").await.unwrap().len();
        let _ = s.logout().await;
        (unseen, all)
    }

    /// The flags of every message, in order.
    pub async fn flags(&self) -> Vec<String> {
        let mut s = self.session().await;
        s.select("INBOX").await.unwrap();
        let mut out = Vec::new();
        {
            let mut fetched = s.fetch("1:*", "FLAGS").await.unwrap();
            while let Some(f) = fetched.next().await {
                let f = f.unwrap();
                out.push(f.flags().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(" "));
            }
        }
        let _ = s.logout().await;
        out
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        // SIGTERM: the master stops its children before it exits.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
