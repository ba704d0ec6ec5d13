//! A private ejabberd for one run: the configuration the harness writes, the Erlang VM started
//! in the foreground on it, and the users registered through its HTTP API.
//!
//! The VM is started without a node name (`erl` rather than `ejabberdctl foreground`), so it
//! needs no `epmd` — nothing outlives the run, and it never meets the system's ejabberd node —
//! and its Mnesia spool, log and configuration all live in the run's temporary directory.

use crate::cli::EjabberdArchive;
use crate::peer::Account;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian and ejabberd's own installers put its Erlang applications (`ERL_LIBS`).
const LIB_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/erlang/lib",
    "/usr/local/lib",
];

/// How to install what [`installation`] looks for.
pub const INSTALL_HINT: &str = "apt-get install -y ejabberd (then: systemctl disable --now ejabberd)";

/// An installed ejabberd: the `erl` that runs it and the library folder that holds it.
#[derive(Debug, Clone)]
pub struct Installation {
    pub erl: PathBuf,
    pub libs: PathBuf,
}

/// The installed ejabberd, if any: `$EJABBERD_ERL_LIBS` or a usual library folder holding an
/// `ejabberd-*/ebin/ejabberd.app`, and `erl` on PATH.
pub fn installation() -> Option<Installation> {
    let holds_ejabberd = |dir: &Path| {
        std::fs::read_dir(dir).ok().is_some_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("ejabberd-") && e.path().join("ebin/ejabberd.app").exists()
            })
        })
    };
    let libs = std::env::var_os("EJABBERD_ERL_LIBS")
        .map(PathBuf::from)
        .into_iter()
        .chain(LIB_DIRS.iter().map(PathBuf::from))
        .find(|dir| holds_ejabberd(dir))?;
    let erl = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|d| d.join("erl")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.exists())?;
    Some(Installation { erl, libs })
}

/// Whether the SQLite driver ejabberd needs for `--ejabberd-archive sqlite` is installed.
pub fn has_sqlite(install: &Installation) -> bool {
    [install.libs.as_path(), Path::new("/usr/lib/erlang/lib")]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .any(|e| e.file_name().to_string_lossy().starts_with("p1_sqlite3-"))
}

/// Loopback ports of one ejabberd.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// XMPP client-to-server (plain TCP).
    pub c2s: u16,
    /// HTTP: the admin API (`/api`, user registration).
    pub http: u16,
}

/// The `ejabberd.yml` of a run. Choices for a fair fight (RESULTS.md, "Peers"):
/// - `mod_mam` with `default: always`: every 1:1 message is archived (each user's archive), as
///   Herald stores every message; on Mnesia (the default) or SQLite (`archive`, in `dir`);
/// - `mod_stream_mgmt`: XEP-0198 acks are the server's acknowledgement of a send;
/// - no traffic shaper on the client listener and no session or offline-queue caps that a
///   load test would hit (the stock config limits each connection to 1,000 B/s);
/// - plain TCP and SASL PLAIN on loopback (Herald is measured without TLS too);
/// - a listen backlog of 4,096, as the harness opens connections 64 at a time.
pub fn config(domain: &str, ports: Ports, log_level: &str, archive: EjabberdArchive, dir: &Path) -> String {
    let (sql, mam_db) = match archive {
        EjabberdArchive::Mnesia | EjabberdArchive::None => (String::new(), "mnesia"),
        EjabberdArchive::Sqlite => (
            format!(
                "sql_type: sqlite\nsql_database: \"{}\"\n",
                dir.join("ejabberd.db").display()
            ),
            "sql",
        ),
    };
    let mam = match archive {
        EjabberdArchive::None => String::new(),
        _ => format!("  mod_mam:\n    default: always\n    db_type: {mam_db}\n"),
    };
    format!(
        r#"# written by herald-loadtest for one run
hosts:
  - "{domain}"
loglevel: {log_level}
hide_sensitive_log_data: true
listen:
  -
    port: {c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 4096
    max_stanza_size: 262144
    shaper: none
    access: c2s
    starttls_required: false
  -
    port: {http}
    ip: "127.0.0.1"
    module: ejabberd_http
    backlog: 4096
    request_handlers:
      /api: mod_http_api
auth_method: internal
auth_password_format: plain
default_db: mnesia
{sql}shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 100000
  c2s_shaper: none
  s2s_shaper: none
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  c2s:
    allow: all
api_permissions:
  "registration from loopback":
    from:
      - mod_http_api
    who:
      acl: loopback
    what:
      - register
modules:
{mam}  mod_stream_mgmt:
    resend_on_timeout: if_offline
  mod_roster: {{}}
"#,
        c2s = ports.c2s,
        http = ports.http,
    )
}

/// The command that runs ejabberd in the foreground on the files in `dir`.
pub fn command(install: &Installation, dir: &Path) -> Command {
    let mut command = Command::new(&install.erl);
    command
        .args(["-noinput", "-noshell", "+P", "1000000", "-mnesia", "dir"])
        .arg(format!("\"{}\"", dir.join("spool").display()))
        .args(["-s", "ejabberd"])
        .current_dir(dir)
        .env("ERL_LIBS", &install.libs)
        .env("EJABBERD_CONFIG_PATH", dir.join("ejabberd.yml"))
        .env("EJABBERD_LOG_PATH", dir.join("ejabberd.log"))
        .env("ERL_CRASH_DUMP_BYTES", "0")
        .stdin(Stdio::null());
    command
}

/// Registers `accounts` on `domain` through `POST /api/register`, `concurrency` at a time.
pub async fn register(
    http_base: &str,
    domain: &str,
    accounts: Vec<Account>,
    concurrency: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let url = format!("{http_base}/api/register");
    let requests = accounts.into_iter().map(|account| {
        let request = client.post(&url).json(&serde_json::json!({
            "user": account.user,
            "host": domain,
            "password": account.password,
        }));
        let url = url.clone();
        let bar = bar.clone();
        async move {
            let response = request.send().await.with_context(|| format!("POST {url}"))?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                bail!("registering {}: {status} {text}", account.user);
            }
            bar.inc(1);
            anyhow::Ok(())
        }
    });
    futures::stream::iter(requests)
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_archives_acks_and_lifts_the_shaper() {
        let dir = Path::new("/run/x");
        let text = config(
            "localhost",
            Ports { c2s: 5, http: 6 },
            "warning",
            EjabberdArchive::Mnesia,
            dir,
        );
        assert!(text.contains("port: 5\n") && text.contains("port: 6\n"));
        assert!(text.contains("mod_mam:\n    default: always"));
        assert!(text.contains("mod_stream_mgmt:"));
        assert!(text.contains("shaper: none"));
        assert!(!text.contains("0.0.0.0"));
        assert!(text.contains("db_type: mnesia") && !text.contains("sql_type"));
        let text = config(
            "localhost",
            Ports { c2s: 5, http: 6 },
            "warning",
            EjabberdArchive::Sqlite,
            dir,
        );
        assert!(text.contains("sql_type: sqlite\nsql_database: \"/run/x/ejabberd.db\"\n"));
        assert!(text.contains("db_type: sql\n"));
        let text = config(
            "localhost",
            Ports { c2s: 5, http: 6 },
            "warning",
            EjabberdArchive::None,
            dir,
        );
        assert!(!text.contains("mod_mam") && text.contains("mod_stream_mgmt"));
    }
}
