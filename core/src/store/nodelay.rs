//! A workaround for sqlx 0.9.0, which no longer sets `TCP_NODELAY` on its
//! sockets (transact-rs/sqlx#4335; fixed by #4336, not released as of
//! 2026-11). Without it, Nagle's algorithm meets PostgreSQL's delayed ACK
//! and a statement whose message ends in a partly filled TCP segment waits
//! ~40 ms: measured here, converting a 1,000-message chat took 52 ms on
//! PostgreSQL against 8 ms on SQLite. On a real network (1,448-byte
//! segments) ordinary inserts hit the same stall.
//!
//! sqlx offers no hook on its socket, so right after each new connection we
//! set the option on this process's TCP sockets whose peer is the database
//! port. Remove this module once sqlx sets `TCP_NODELAY` again.

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to
/// `port`. Other file descriptors are looked at, never changed.
#[cfg(target_os = "linux")]
pub(super) fn set_on_sockets_to(port: u16) {
    use std::os::fd::BorrowedFd;

    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if !std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        // SAFETY: the descriptor was open when listed, and the borrow only
        // lives for a few getsockopt/setsockopt calls, which cannot close it.
        // Should it be closed and reused in between, the calls fail or touch
        // another socket with a harmless option.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_database = socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port);
        if to_database && matches!(socket.r#type(), Ok(socket2::Type::STREAM)) {
            let _ = socket.set_tcp_nodelay(true);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn set_on_sockets_to(_port: u16) {}
