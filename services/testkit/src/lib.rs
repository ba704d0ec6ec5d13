//! Test support (dev-only): a `nats-server` on a free port, a cluster of them, free ports,
//! signals and polling helpers.

mod nats_cluster;
mod nats_server;

pub use nats_cluster::NatsCluster;
pub use nats_server::{NatsServer, nats_server_binary};

use std::net::TcpListener;
use std::time::Duration;

/// A port nobody listens on right now.
/// A free loopback port, never one this process was given before: the port is released when
/// this returns, so two calls in a row could otherwise name the same port, and two servers of
/// one test would then race for it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Sends `signal` (`STOP`, `CONT`, …) to process `pid` with kill(1): pausing a process keeps
/// its sockets open while it answers nothing, which a kill cannot imitate.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
