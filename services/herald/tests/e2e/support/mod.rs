//! Test support: Herald servers (in-process or as child processes) and real clients.

use clap::Parser;
use futures::{SinkExt, StreamExt};
use herald::{Cli, Running};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

mod clients;
mod im_client;
pub mod receiver;
mod seed_clients;

pub use clients::{SseReader, WsClient};
pub use im_client::{ImClient, im_url};
pub use receiver::Receiver;
pub use seed_clients::SeedClient;

pub const SECRET: &str = "test-app-secret-0123456789";
pub const WAIT: Duration = Duration::from_secs(15);

/// Which bus a test runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    Embedded,
    Nats,
}

/// An in-process `herald up` on a free port, with its own data directory (and NATS server).
pub struct Herald {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    _nats: Option<herald_testkit::NatsServer>,
}

pub fn settings_args(data_dir: &Path, nats_url: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "herald",
        "up",
        "--http-addr",
        "127.0.0.1:0",
        "--app-secret",
        SECRET,
        "--lease-ttl-ms",
        "2000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--data-dir".into(), data_dir.display().to_string()]);
    if let Some(url) = nats_url {
        args.extend(["--nats-url".into(), url.into(), "--partitions".into(), "8".into()]);
    }
    args
}

impl Herald {
    pub async fn start(kind: BusKind) -> Self {
        Self::start_with(kind, &[]).await
    }

    /// `start`, with this many partitions of the logs (default: the server's, 8 on NATS).
    pub async fn start_with_partitions(kind: BusKind, partitions: Option<u32>) -> Self {
        match partitions {
            Some(partitions) => Self::start_with(kind, &["--partitions", &partitions.to_string()]).await,
            None => Self::start_with(kind, &[]).await,
        }
    }

    /// `herald up` with `extra` flags as (flag, value) pairs (e.g. `["--max-pending", "4"]`); a
    /// flag the defaults already set takes the value given here.
    pub async fn start_with(kind: BusKind, extra: &[&str]) -> Self {
        Self::start_on((kind == BusKind::Nats).then(herald_testkit::NatsServer::start), extra).await
    }

    /// `start_with` on a NATS server of the test's own (e.g. one with a small `max_payload`),
    /// or embedded when `nats` is `None`.
    pub async fn start_on(nats: Option<herald_testkit::NatsServer>, extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut args = settings_args(data_dir.path(), nats.as_ref().map(|n| n.url.as_str()));
        for pair in extra.chunks(2) {
            match (args.iter().position(|arg| arg == pair[0]), pair.get(1)) {
                (Some(at), Some(value)) => args[at + 1] = value.to_string(),
                _ => args.extend(pair.iter().map(|s| s.to_string())),
            }
        }
        let cli = Cli::parse_from(args);
        let running = herald::start(cli.role, cli.settings).await.expect("herald starts");
        let addr = running.addr;
        Herald {
            running: Some(running),
            addr,
            http: http_client(),
            data_dir,
            _nats: nats,
        }
    }

    pub fn api(&self) -> Api {
        Api {
            base: format!("http://{}", self.addr),
            http: self.http.clone(),
        }
    }

    pub fn nats_url(&self) -> &str {
        &self._nats.as_ref().expect("started with NATS").url
    }

    /// The environment of one more role process on this Herald's NATS and store (8 partitions,
    /// as `up` has), listening on `addr`.
    pub fn process_env(&self, addr: std::net::SocketAddr) -> Vec<(&'static str, String)> {
        vec![
            ("HERALD_NATS_URL", self.nats_url().to_owned()),
            ("HERALD_DATA_DIR", self.data_dir.path().display().to_string()),
            ("HERALD_PARTITIONS", "8".to_owned()),
            ("HERALD_HTTP_ADDR", addr.to_string()),
        ]
    }

    /// A second in-process server on the same bus and store (NATS only): another gateway.
    pub async fn second_gateway(&self) -> Running {
        let nats = self._nats.as_ref().expect("a second gateway needs NATS");
        let cli = Cli::parse_from(settings_args(self.data_dir.path(), Some(&nats.url)));
        herald::start(cli.role, cli.settings)
            .await
            .expect("second herald starts")
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

/// An HTTP client for the tests (the process's TLS provider installed first: with the
/// webhooks' https support, reqwest needs one).
pub fn http_client() -> reqwest::Client {
    herald_webhooks::install_tls_provider();
    reqwest::Client::new()
}

/// The HTTP API of one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Api {
            base: format!("http://{addr}"),
            http: http_client(),
        }
    }

    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Lifts app `default`'s send rate limit (on by default) for a test that sends as fast as it can.
    pub async fn unlimited_sends(&self) {
        let response = self
            .http
            .put(format!("{}/inner/settings", self.base))
            .bearer_auth(SECRET)
            .json(&json!({"send_rate_per_sec": 0}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200, "send rate lifted");
    }

    pub async fn token(&self, session: &str, platform: u8) -> String {
        let (status, body) = self
            .post(
                "/inner/get_token",
                SECRET,
                json!({"session": session, "platform": platform}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_str().expect("token").to_owned()
    }

    pub async fn create_group(&self, owner_token: &str, others: &[&str]) -> String {
        let (status, body) = self
            .post(
                "/create_conversation",
                owner_token,
                json!({"conversation_type": 1, "sessions": others}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["ConversationId"].as_str().unwrap().to_owned()
    }

    pub async fn ws(&self, token: &str) -> WsClient {
        WsClient::connect(&format!("{}/ws?token={token}", self.base.replace("http://", "ws://"))).await
    }

    pub async fn notify_ws(&self, token: &str) -> WsClient {
        WsClient::connect(&format!(
            "{}/notify?protoc=ws&token={token}",
            self.base.replace("http://", "ws://")
        ))
        .await
    }

    /// `/send_msg` with a client key, retried with the same key until acknowledged.
    pub async fn send_until_acked(&self, token: &str, conv: &str, key: &str, content: &str) -> (String, u64) {
        send_until_acked_through(std::slice::from_ref(self), token, conv, key, content).await
    }
}

/// Sends with `key` until acknowledged (60 s at most), through the gateways in turn: a dead
/// gateway's turn fails, the next answers. Returns the acknowledged `MsgID` and `Seq`.
pub async fn send_until_acked_through(
    gateways: &[Api],
    token: &str,
    conv: &str,
    key: &str,
    content: &str,
) -> (String, u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for api in gateways.iter().cycle() {
        let body = json!({"conversation_id": conv, "type": 1, "content": content, "client_msg_id": key});
        let sent = api
            .http
            .post(format!("{}/send_msg", api.base))
            .bearer_auth(token)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(response) = sent
            && response.status().as_u16() == 200
            && let Ok(body) = response.json::<Value>().await
        {
            return (
                body["data"]["MsgID"].as_str().unwrap().to_owned(),
                body["data"]["Seq"].as_u64().unwrap(),
            );
        }
        assert!(tokio::time::Instant::now() < deadline, "send {key} never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!("at least one gateway")
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `herald` child process (killable with SIGKILL).
pub struct Process {
    pub child: Child,
}

impl Process {
    pub fn spawn(name: &str, role: &str, env: &[(&str, String)], log_dir: &Path) -> Self {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg(role)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HERALD_INSTANCE", name)
            .env("HERALD_APP_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn herald");
        Process { child }
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `addr` answers `/healthz`.
pub async fn wait_healthy(addr: SocketAddr) {
    let api = Api::new(addr);
    herald_testkit::eventually(WAIT, "server healthy", || {
        let api = api.clone();
        async move {
            let ok = api
                .http
                .get(format!("{}/readyz", api.base))
                .send()
                .await
                .ok()?
                .status()
                .is_success();
            ok.then_some(())
        }
    })
    .await;
}

pub fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", herald_testkit::free_port()).parse().unwrap()
}

/// Reads a conversation's whole log from the store on disk.
pub async fn stored_log(data_dir: &Path, conv: &str) -> Vec<herald_protocol::MessageRecord> {
    use herald_store::QueryStore;
    let store = herald_store::sqlite::SqliteStore::open(PathBuf::from(data_dir))
        .await
        .unwrap();
    let app = herald_protocol::AppId::parse("default").unwrap();
    let conv = herald_protocol::ConvId::parse(conv).unwrap();
    let mut all = Vec::new();
    loop {
        let from = all
            .last()
            .map(|r: &herald_protocol::MessageRecord| r.seq + 1)
            .unwrap_or(0);
        let page = store
            .messages_in_range(&app, &conv, from, u64::MAX, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Calls `poll` until `seqs` holds `count` entries (each call's entries appended), or panics.
pub async fn eventually_seqs<F, Fut>(seqs: &mut Vec<u64>, count: usize, mut poll: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<u64>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while seqs.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} arrived",
            seqs.len()
        );
        seqs.extend(poll().await);
    }
}
