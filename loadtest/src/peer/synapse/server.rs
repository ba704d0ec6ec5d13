//! A private Synapse on PostgreSQL, started by the harness: both configured by files written into
//! a temporary directory, both on free loopback ports, both stopped when the server is dropped.

use crate::target::{ChildGuard, free_port};
use anyhow::{Context, bail};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long PostgreSQL and Synapse each get to start.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long PostgreSQL gets to shut down cleanly before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// The Matrix server name of the test users (`@name:loadtest`).
pub const SERVER_NAME: &str = "loadtest";
/// The database role and database Synapse uses.
const DB: &str = "synapse";
/// Rate limits written into `homeserver.yaml`: far above anything this machine can send, so the
/// peer is measured, not its anti-abuse throttles (Synapse's defaults allow 0.2 messages/s).
const UNLIMITED: &str = "{per_second: 1000000, burst_count: 1000000}";

/// Where the Synapse virtualenv and the PostgreSQL programs are.
#[derive(Debug, Clone)]
pub struct Install {
    /// `<venv>/bin/python`, with `synapse` and `psycopg2` importable.
    pub python: PathBuf,
    /// The folder holding `initdb`, `postgres` and `createdb` (`PG_PROGRAMS`).
    pub pg_bin: PathBuf,
}

impl Install {
    /// The install in `venv` (a Python virtualenv with `matrix-synapse[postgres]`), with
    /// PostgreSQL's programs from `$HERALD_PG_BIN`, `PATH` or `/usr/lib/postgresql/*/bin`;
    /// an error saying what is missing otherwise.
    pub fn find(venv: &Path) -> anyhow::Result<Self> {
        let python = venv.join("bin/python");
        let imports = Command::new(&python)
            .args(["-c", "import synapse, psycopg2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !imports.is_ok_and(|s| s.success()) {
            bail!(
                "{} cannot import synapse and psycopg2 (python3 -m venv {0} && {0}/bin/pip install 'matrix-synapse[postgres]')",
                venv.display()
            );
        }
        let pg_bin = pg_bin().context("PostgreSQL's initdb, postgres and createdb not found together (apt-get install postgresql, or set HERALD_PG_BIN)")?;
        Ok(Self { python, pg_bin })
    }
}

/// The PostgreSQL programs the harness runs.
const PG_PROGRAMS: [&str; 3] = ["initdb", "postgres", "createdb"];

fn pg_bin() -> Option<PathBuf> {
    let has_all = |dir: &Path| PG_PROGRAMS.iter().all(|p| dir.join(p).is_file());
    if let Ok(dir) = std::env::var("HERALD_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|dir| has_all(dir));
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // Debian links initdb and postgres into PATH but not createdb: use the folder they link to
    on_path
        .into_iter()
        .chain(debian)
        .filter_map(|dir| {
            std::fs::canonicalize(dir.join("initdb"))
                .ok()?
                .parent()
                .map(Path::to_owned)
        })
        .find(|dir| has_all(dir))
}

/// The account PostgreSQL runs as: itself when not root (initdb refuses root), else the
/// `postgres` account the Debian package creates, else `nobody`.
fn postgres_account() -> anyhow::Result<Option<(u32, u32)>> {
    let me = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for name in ["postgres", "nobody"] {
        let found = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
                .flatten()
        });
        if found.is_some() {
            return Ok(found);
        }
    }
    bail!("running as root and neither a postgres nor a nobody account exists to run PostgreSQL as")
}

/// A command that runs as `account` (when given) from `cwd`.
fn as_account(program: PathBuf, account: Option<(u32, u32)>, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(cwd);
    if let Some((uid, gid)) = account {
        // std drops root's supplementary groups when it sets the uid
        command.uid(uid).gid(gid);
    }
    command
}

/// Runs `command` to completion; its output in the error when it fails.
fn run_to_end(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("start {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The end of a log file, for errors.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Synapse and its PostgreSQL, running.
pub struct SynapseServer {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// `registration_shared_secret`, for the admin registration API.
    pub shared_secret: String,
    /// The Synapse process (a single, monolith Python process).
    pub synapse_pid: u32,
    /// The PostgreSQL postmaster; its backends (one per Synapse connection) are its children.
    pub postgres_pid: u32,
    pub synapse_log: PathBuf,
    synapse: Option<ChildGuard>,
    postgres: Option<ChildGuard>,
    // dropped after the processes
    _dir: tempfile::TempDir,
}

impl SynapseServer {
    /// Starts PostgreSQL, creates Synapse's database, writes `homeserver.yaml`, starts Synapse
    /// and waits until it answers `/_matrix/client/versions`.
    pub async fn start(install: &Install) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let account = postgres_account()?;
        let (postgres, pg_port, pg_socket) = start_postgres(install, dir.path(), account)?;
        let postgres_pid = postgres.pid();
        let mut server = Self {
            base_url: String::new(),
            shared_secret: format!("loadtest-shared-secret-{}", std::process::id()),
            synapse_pid: 0,
            postgres_pid,
            synapse_log: dir.path().join("homeserver.log"),
            synapse: None,
            postgres: Some(postgres),
            _dir: dir,
        };
        let root = server._dir.path().to_owned();
        let port = free_port()?;
        let config = root.join("homeserver.yaml");
        std::fs::write(root.join("log.yaml"), log_config(&server.synapse_log))?;
        std::fs::write(
            &config,
            homeserver_yaml(&root, port, &pg_socket, pg_port, &server.shared_secret),
        )?;
        let mut keys = Command::new(&install.python);
        keys.args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
            .arg(&config)
            .current_dir(&root);
        run_to_end(keys, "synapse --generate-keys")?;
        let stderr = std::fs::File::create(root.join("synapse.stderr"))?;
        let child = Command::new(&install.python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("start synapse")?;
        let mut synapse = ChildGuard::new("synapse", child);
        server.synapse_pid = synapse.pid();
        server.base_url = format!("http://127.0.0.1:{port}");
        let ready = wait_http(&format!("{}/_matrix/client/versions", server.base_url), &mut synapse).await;
        server.synapse = Some(synapse);
        if let Err(err) = ready {
            bail!(
                "{err}\n{}\n{}",
                tail(&root.join("synapse.stderr")),
                tail(&server.synapse_log)
            );
        }
        Ok(server)
    }

    /// Which of the two processes exited, and how, if one did.
    pub fn exited(&mut self) -> Option<String> {
        [&mut self.synapse, &mut self.postgres]
            .into_iter()
            .flatten()
            .find_map(|child| child.exited().map(|status| format!("{} exited ({status})", child.name)))
    }
}

impl Drop for SynapseServer {
    fn drop(&mut self) {
        // Synapse first (it holds PostgreSQL connections), then a fast shutdown of PostgreSQL
        // (SIGINT: backends end, shared memory is released) before the guard's kill
        self.synapse.take();
        if let Some(mut postgres) = self.postgres.take() {
            let _ = Command::new("kill")
                .args(["-INT", &postgres.pid().to_string()])
                .status();
            let deadline = Instant::now() + STOP_WITHIN;
            while postgres.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// initdb into `<dir>/pg/data`, then the postmaster on a free loopback port with its socket in
/// `<dir>/pg`; Synapse's database created with the encoding it requires (UTF8, C collation).
fn start_postgres(
    install: &Install,
    dir: &Path,
    account: Option<(u32, u32)>,
) -> anyhow::Result<(ChildGuard, u16, PathBuf)> {
    let pg = dir.join("pg");
    std::fs::create_dir(&pg)?;
    if let Some((uid, gid)) = account {
        // the temporary directory is root's (0700): let the account through to its own folder
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
        std::os::unix::fs::chown(&pg, Some(uid), Some(gid))?;
    }
    let data = pg.join("data");
    let mut initdb = as_account(install.pg_bin.join("initdb"), account, &pg);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", DB, "--auth=trust", "--encoding=UTF8", "--locale=C"]);
    run_to_end(initdb, "initdb")?;
    let port = free_port()?;
    let log_path = dir.join("postgres.log");
    let log = std::fs::File::create(&log_path)?;
    let mut command = as_account(install.pg_bin.join("postgres"), account, &pg);
    // fsync and synchronous_commit stay on (the defaults): a commit is on disk, as Herald's
    // acknowledged messages are
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
        .arg(format!("unix_socket_directories={}", pg.display()))
        .stdout(Stdio::null())
        .stderr(log);
    let mut postgres = ChildGuard::new("postgres", command.spawn().context("start postgres")?);
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let mut createdb = Command::new(install.pg_bin.join("createdb"));
        createdb.arg("-h").arg(&pg).args([
            "-p",
            &port.to_string(),
            "-U",
            DB,
            "-E",
            "UTF8",
            "--locale=C",
            "-T",
            "template0",
            DB,
        ]);
        match run_to_end(createdb, "createdb") {
            Ok(()) => break,
            Err(err) => {
                if let Some(status) = postgres.exited() {
                    bail!(
                        "postgres exited ({status}) before accepting connections\n{}",
                        tail(&log_path)
                    );
                }
                if Instant::now() > deadline {
                    bail!("{err}\n{}", tail(&log_path));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok((postgres, port, pg))
}

/// Waits until `url` answers 200 while `child` runs.
async fn wait_http(url: &str, child: &mut ChildGuard) -> anyhow::Result<()> {
    // reqwest's rustls (when built with the workspace) takes the process's provider
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if let Some(status) = child.exited() {
            bail!("{} exited ({status}) before answering {url}", child.name);
        }
        if Instant::now() > deadline {
            bail!("{} did not answer {url} within {READY_WITHIN:?}", child.name);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Warnings and errors only, to a file: Synapse's default INFO logging costs it CPU per request.
fn log_config(log: &Path) -> String {
    format!(
        r#"version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {log}
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"#,
        log = log.display()
    )
}

/// The whole configuration, documented in RESULTS.md ("Peers"): a single-process Synapse on
/// PostgreSQL over its unix socket, HTTP on loopback, presence and metrics off, no federation
/// key servers, every client rate limit lifted.
pub fn homeserver_yaml(dir: &Path, port: u16, pg_socket: &Path, pg_port: u16, secret: &str) -> String {
    let dir = dir.display();
    format!(
        r#"server_name: "{SERVER_NAME}"
pid_file: {dir}/homeserver.pid
# setup only: the harness registers hundreds of users before the run (passwords are never used)
bcrypt_rounds: 4
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: psycopg2
  args:
    user: {DB}
    database: {DB}
    host: {pg_socket}
    port: {pg_port}
    cp_min: 5
    cp_max: 10
log_config: {dir}/log.yaml
media_store_path: {dir}/media
signing_key_path: {dir}/signing.key
registration_shared_secret: "{secret}"
report_stats: false
enable_metrics: false
presence:
  enabled: false
trusted_key_servers: []
suppress_key_server_warning: true
rc_message: {UNLIMITED}
rc_registration: {UNLIMITED}
rc_login:
  address: {UNLIMITED}
  account: {UNLIMITED}
  failed_attempts: {UNLIMITED}
rc_joins:
  local: {UNLIMITED}
  remote: {UNLIMITED}
rc_joins_per_room: {UNLIMITED}
rc_invites:
  per_room: {UNLIMITED}
  per_user: {UNLIMITED}
  per_issuer: {UNLIMITED}
rc_room_creation: {UNLIMITED}
rc_presence:
  per_user: {UNLIMITED}
"#,
        pg_socket = pg_socket.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_lifts_the_message_limit_and_points_at_postgres() {
        let yaml = homeserver_yaml(Path::new("/t"), 8008, Path::new("/t/pg"), 5433, "s");
        assert!(yaml.contains("rc_message: {per_second: 1000000, burst_count: 1000000}"));
        assert!(yaml.contains("name: psycopg2"));
        assert!(yaml.contains("host: /t/pg"));
        assert!(yaml.contains("bind_addresses: ['127.0.0.1']"));
    }
}
