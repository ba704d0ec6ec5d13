//! Spawns a private `nats-server` with JetStream on a free port; killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Oldest supported server.
const MIN_VERSION: (u32, u32) = (2, 10);

pub struct NatsServer {
    pub url: String,
    pub port: u16,
    child: Child,
    /// The server's environment beyond the test's, kept for a restart.
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

fn version_of(binary: &Path) -> Option<(u32, u32)> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `HERALD_NATS_SERVER`, else the project's `.venv/bin/nats-server`, else `nats-server` on PATH
/// if it is 2.10 or newer.
pub fn nats_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("HERALD_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/nats-server");
    if venv.exists() {
        return venv;
    }
    let on_path = PathBuf::from("nats-server");
    match version_of(&on_path) {
        Some(v) if v >= MIN_VERSION => on_path,
        found => panic!(
            "no nats-server >= 2.10 (found {found:?}): run the README's test command, which installs one into .venv, or set HERALD_NATS_SERVER"
        ),
    }
}

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with_config("", &[])
    }

    /// A server whose configuration file is `config` (e.g. `nats/users.conf`'s text) after the
    /// listen address and JetStream store this function sets; `env` is the server's environment
    /// beyond the test's (the configuration's `$VARIABLES`). Its log goes to `log()`.
    pub fn start_with_config(config: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let file = dir.path().join("nats-server.conf");
        let store = dir.path().join("jetstream");
        let log = dir.path().join("nats-server.log");
        let text = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {store:?} }}\nlog_file: {log:?}\n{config}\n"
        );
        std::fs::write(&file, text).expect("write nats-server.conf");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let child = spawn(&file, &env, port);
        NatsServer {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            child,
            env,
            dir,
        }
    }

    /// What the server has logged so far (e.g. its permission violations).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats-server.log")).unwrap_or_default()
    }

    /// `kill -9`: no flush, no goodbye to clients (fault tests).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on its port, with its configuration and what it had stored.
    pub fn restart(&mut self) {
        self.child = spawn(&self.dir.path().join("nats-server.conf"), &self.env, self.port);
    }
}

/// Runs `nats-server -c file` and waits until it listens on `port`.
pub(crate) fn spawn(file: &Path, env: &[(String, String)], port: u16) -> Child {
    let child = Command::new(nats_server_binary())
        .arg("-c")
        .arg(file)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
