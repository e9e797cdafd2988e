//! The store's PostgreSQL connections have `TCP_NODELAY` set (see
//! `store/nodelay.rs`). Its own test binary, so that no other test's sockets
//! to PostgreSQL are open in this process while it looks.

#![cfg(target_os = "linux")]

use std::os::fd::BorrowedFd;

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use threadline::store::Store;

fn database_sockets(port: u16) -> Vec<bool> {
    let mut nodelay = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if !std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        // SAFETY: listed as open just now; only inspected, never closed.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port)
        {
            nodelay.push(socket.tcp_nodelay().unwrap());
        }
    }
    nodelay
}

#[tokio::test]
async fn postgres_connections_do_not_wait_on_nagle() {
    let admin_url = std::env::var("THREADLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
    let admin = match Database::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() && std::env::var_os("THREADLINE_REQUIRE_POSTGRES").is_none() => {
            eprintln!("\n!!!!!!!!!! SKIPPED: PostgreSQL is not reachable at {admin_url}: {e}\n");
            return;
        }
        Err(e) => panic!("PostgreSQL is not reachable at {admin_url}: {e}"),
    };
    let name = format!("threadline_nodelay_{}", std::process::id());
    let run = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    admin
        .execute_raw(run(format!("DROP DATABASE IF EXISTS {name}")))
        .await
        .unwrap();
    admin.execute_raw(run(format!("CREATE DATABASE {name}"))).await.unwrap();
    admin.close().await.unwrap();

    let base = admin_url.rsplit_once('/').unwrap().0;
    let store = Store::connect(&format!("{base}/{name}")).await.unwrap();
    store.ping().await.unwrap();
    let port = admin_url
        .parse::<sea_orm::sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .get_port();
    let sockets = database_sockets(port);
    let all_set = !sockets.is_empty() && sockets.iter().all(|&on| on);
    drop(store);

    let admin = Database::connect(&admin_url).await.unwrap();
    admin
        .execute_raw(run(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .await
        .unwrap();
    assert!(all_set, "TCP_NODELAY per socket to the database: {sockets:?}");
}
