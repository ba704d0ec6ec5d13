//! The server under test: one already running (`--url`), or one this harness starts and stops
//! (`--spawn embedded|nats|relay`), with its process id for memory and CPU readings.

use crate::api::Api;
use crate::cli::{Common, SpawnKind};
use anyhow::{Context, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_WITHIN: Duration = Duration::from_secs(60);

/// A child process, killed when dropped.
pub struct ChildGuard {
    pub name: &'static str,
    child: Child,
}

impl ChildGuard {
    /// Guards `child` (named `server` when it is the server under test: its exit fails the run).
    pub fn new(name: &'static str, child: Child) -> Self {
        Self { name, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the process exited, if it has.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|status| status.to_string())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Target {
    /// `embedded`, `nats`, `relay` or `url`.
    pub kind: String,
    pub api: Api,
    pub server_pid: Option<u32>,
    /// The server's RSS once it was ready, before any client connected (memory per connection).
    pub rss_ready: Option<u64>,
    pub nats_pid: Option<u32>,
    pub nats_url: Option<String>,
    /// A log of the spawned server, shown when it fails.
    pub log: Option<PathBuf>,
    /// A peer server that stops itself when dropped (Synapse and its PostgreSQL).
    held: Vec<Box<dyn std::any::Any + Send>>,
    // dropped last: children before their directories
    children: Vec<ChildGuard>,
    _dirs: Vec<tempfile::TempDir>,
}

/// `N` distinct free ports: bound together, so two of them are never the same port (as two
/// calls of [`free_port`] may be, the first one's released before the second asks).
pub fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `--nats-server`, `$HERALD_NATS_SERVER`, `./.venv/bin/nats-server` (here or in a parent
/// folder), else `nats-server` on PATH.
pub fn nats_server_binary(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    if let Ok(path) = std::env::var("HERALD_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let venv = d.join(".venv/bin/nats-server");
        if venv.exists() {
            return venv;
        }
        dir = d.parent().map(Path::to_owned);
    }
    PathBuf::from("nats-server")
}

/// `--herald-bin`, else `herald` next to this binary, else `herald` on PATH.
fn herald_binary(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("herald")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("herald"))
}

fn wait_listening(port: u16, child: &mut ChildGuard) -> anyhow::Result<()> {
    wait_listening_within(port, child, READY_WITHIN)
}

/// Waits until something listens on loopback `port`; an error if `child` exits first or
/// `within` passes.
pub fn wait_listening_within(port: u16, child: &mut ChildGuard, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.exited() {
            bail!("{} exited ({status}) before listening on {port}", child.name);
        }
        if Instant::now() > deadline {
            bail!("{} did not listen on {port} within {within:?}", child.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts a private `nats-server` with JetStream on a free port.
pub fn spawn_nats(common: &Common) -> anyhow::Result<(ChildGuard, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let binary = nats_server_binary(common.nats_server.as_deref());
    let child = Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {} (set --nats-server)", binary.display()))?;
    let mut guard = ChildGuard {
        name: "nats-server",
        child,
    };
    wait_listening(port, &mut guard)?;
    Ok((guard, format!("nats://127.0.0.1:{port}"), dir))
}

/// The command that starts the server `kind` names on `addr` (data in `dir`).
fn server_command(
    common: &Common,
    kind: SpawnKind,
    addr: &str,
    secret: &str,
    dir: &std::path::Path,
    nats_url: Option<&str>,
) -> anyhow::Result<Command> {
    Ok(match kind {
        SpawnKind::Ejabberd | SpawnKind::Synapse => {
            bail!("--spawn {kind:?} runs the `chat` scenario only (`herald-loadtest chat --spawn ...`)")
        }
        SpawnKind::Relay => {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(["relay", "--listen", addr, "--read-buffer"]);
            command.arg(common.relay_read_buffer.to_string());
            command
        }
        SpawnKind::Embedded | SpawnKind::Nats => {
            let mut command = Command::new(herald_binary(common.herald_bin.as_deref()));
            command
                .args(["up", "--http-addr", addr, "--app-secret", secret, "--data-dir"])
                .arg(dir.join("data"))
                .env(
                    "HERALD_LOG",
                    std::env::var("HERALD_LOG").unwrap_or_else(|_| "warn".to_owned()),
                );
            if let Some(url) = nats_url {
                command.args(["--nats-url", url]);
            }
            command.args(&common.herald_args);
            command
        }
    })
}

fn check_loopback_nats(url: &str) -> anyhow::Result<()> {
    for server in url.split(',') {
        crate::ws::loopback_addr(server.trim())?;
    }
    Ok(())
}

impl Target {
    /// Attaches to `--url`, or starts what `--spawn` names (`default` when neither is given).
    pub async fn open(common: &Common, default: SpawnKind) -> anyhow::Result<Self> {
        if let Some(url) = &common.url {
            return Self::attach(common, url).await;
        }
        let kind = common.spawn.unwrap_or(default);
        let mut children = Vec::new();
        let mut dirs = Vec::new();
        let mut nats_url = None;
        let mut nats_pid = None;
        if kind == SpawnKind::Nats {
            match &common.nats_url {
                Some(url) => {
                    check_loopback_nats(url)?;
                    nats_url = Some(url.clone());
                }
                None => {
                    let (guard, url, dir) = spawn_nats(common)?;
                    nats_pid = Some(guard.pid());
                    children.push(guard);
                    dirs.push(dir);
                    nats_url = Some(url);
                }
            }
        }
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir()?;
        let log = common
            .server_log
            .clone()
            .unwrap_or_else(|| dir.path().join("server.log"));
        let log_file = std::fs::File::create(&log)?;
        let secret = format!("loadtest-secret-{}", std::process::id());
        let mut command = server_command(common, kind, &addr, &secret, dir.path(), nats_url.as_deref())?;
        let child = command
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("start {command:?} (set --herald-bin)"))?;
        let mut guard = ChildGuard { name: "server", child };
        let listening = wait_listening(port, &mut guard);
        if let Err(err) = listening {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{err}\n{tail}");
        }
        let server_pid = Some(guard.pid());
        children.push(guard);
        dirs.push(dir);
        let api = Api::new(&format!("http://{addr}"), &secret)?;
        api.wait_ready(READY_WITHIN).await?;
        if kind != SpawnKind::Relay && !common.keep_app_settings {
            api.relax_limits().await?;
        }
        Ok(Self {
            kind: format!("{kind:?}").to_lowercase(),
            api,
            server_pid,
            rss_ready: server_pid.and_then(crate::procfs::rss_bytes),
            nats_pid,
            nats_url,
            log: Some(log),
            held: Vec::new(),
            children,
            _dirs: dirs,
        })
    }

    /// A peer server (`peer::`): `api` is its HTTP base, used only to look for Herald's
    /// `/metrics` (a peer has none, so no stages); `companion_pid` is its database, in the
    /// `nats_pid` slot. The spawned processes and their folders are handed over with `adopt`.
    pub fn peer(kind: &str, api: Api, server_pid: Option<u32>, companion_pid: Option<u32>) -> Self {
        Self {
            kind: kind.to_owned(),
            api,
            server_pid,
            rss_ready: server_pid.and_then(crate::procfs::rss_bytes),
            nats_pid: companion_pid,
            nats_url: None,
            log: None,
            held: Vec::new(),
            children: Vec::new(),
            _dirs: Vec::new(),
        }
    }

    /// Stops `child` when this target is dropped, then removes `dir`.
    /// Keeps `server` (which stops itself when dropped) until the target is dropped.
    pub fn hold(&mut self, server: impl std::any::Any + Send) {
        self.held.push(Box::new(server));
    }

    pub fn adopt(&mut self, child: ChildGuard, dir: tempfile::TempDir) {
        self.children.push(child);
        self._dirs.push(dir);
    }

    /// Attaches to a server already running at `url` (loopback only).
    async fn attach(common: &Common, url: &str) -> anyhow::Result<Self> {
        let secret = common.app_secret.clone().unwrap_or_default();
        let api = Api::new(url, &secret)?;
        api.wait_ready(Duration::from_secs(10)).await?;
        if let Some(nats) = &common.nats_url {
            check_loopback_nats(nats)?;
        }
        if !common.keep_app_settings {
            api.relax_limits().await?;
        }
        Ok(Self {
            kind: "url".to_owned(),
            api,
            server_pid: common.server_pid,
            rss_ready: common.server_pid.and_then(crate::procfs::rss_bytes),
            nats_pid: None,
            nats_url: common.nats_url.clone(),
            log: None,
            held: Vec::new(),
            children: Vec::new(),
            _dirs: Vec::new(),
        })
    }

    /// How the spawned server exited, if it did.
    pub fn server_exit(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .filter(|c| c.name == "server")
            .find_map(ChildGuard::exited)
    }
}
