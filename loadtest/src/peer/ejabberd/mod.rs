//! ejabberd, the Erlang XMPP server: spawned by the harness on a configuration it writes (see
//! `server`), or a running one (`--url http://127.0.0.1:HTTP --target-kind ejabberd
//! --xmpp-port PORT`), driven over XMPP client streams (`client`).

pub mod client;
pub mod server;
pub mod xmpp;

use super::{Account, Link, Peer, PeerPair};
use crate::api::Api;
use crate::cli::{Common, EjabberdArchive};
use crate::connection::Outcome;
use crate::progress;
use crate::run::Run;
use crate::target::{self, ChildGuard, Target};
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Registrations in flight at once.
const REGISTER_CONCURRENCY: usize = 32;
/// How long a spawned ejabberd may take to listen (Mnesia creates its schema on first start).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One ejabberd: where its client streams and its HTTP API are, and its domain.
pub struct Ejabberd {
    pub c2s: SocketAddr,
    /// `http://127.0.0.1:PORT` (the admin API under `/api`).
    pub http: String,
    pub domain: String,
}

impl Ejabberd {
    /// Attaches to `--url` (the HTTP listener) with `--xmpp-port`, or spawns one.
    pub async fn open(common: &Common, pairs: u32) -> anyhow::Result<(Self, Target)> {
        let domain = common.xmpp_domain.clone();
        if let Some(url) = &common.url {
            let addr = crate::ws::loopback_addr(url)?;
            let port = common
                .xmpp_port
                .context("--target-kind ejabberd with --url (its HTTP listener) needs --xmpp-port")?;
            let peer = Self {
                c2s: SocketAddr::new(addr.ip(), port),
                http: url.trim_end_matches('/').to_owned(),
                domain,
            };
            let target = Target::peer("ejabberd", Api::new(&peer.http, "")?, common.server_pid, None);
            return Ok((peer, target));
        }
        Self::spawn(common, domain, pairs).await
    }

    async fn spawn(common: &Common, domain: String, pairs: u32) -> anyhow::Result<(Self, Target)> {
        let install =
            server::installation().with_context(|| format!("ejabberd is not installed: {}", server::INSTALL_HINT))?;
        if common.ejabberd_archive == EjabberdArchive::Sqlite && !server::has_sqlite(&install) {
            bail!("ejabberd's SQLite driver is not installed: apt-get install -y erlang-p1-sqlite3");
        }
        let dir = tempfile::tempdir()?;
        let [c2s, http] = target::free_ports()?;
        let ports = server::Ports { c2s, http };
        let level = if common.server_log.is_some() { "info" } else { "warning" };
        std::fs::write(
            dir.path().join("ejabberd.yml"),
            server::config(&domain, ports, level, common.ejabberd_archive, dir.path()),
        )?;
        let log = common.server_log.clone().unwrap_or_else(|| dir.path().join("erl.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut command = server::command(&install, dir.path());
        let child = command
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        // `erl` execs `erlexec`, which execs the VM: the child is `beam.smp` itself
        let mut guard = ChildGuard::new("server", child);
        let peer = Self {
            c2s: SocketAddr::from(([127, 0, 0, 1], ports.c2s)),
            http: format!("http://127.0.0.1:{}", ports.http),
            domain,
        };
        for port in [ports.c2s, ports.http] {
            if let Err(err) = target::wait_listening_within(port, &mut guard, READY_WITHIN) {
                let tail = std::fs::read_to_string(dir.path().join("ejabberd.log")).unwrap_or_default();
                let out = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("{err}\n{out}\n{tail}");
            }
        }
        if !common.quiet {
            eprintln!(
                "ejabberd: {} users to register, c2s on {}, data in {}",
                2 * pairs,
                peer.c2s,
                dir.path().display()
            );
        }
        let kind = match common.ejabberd_archive {
            EjabberdArchive::Mnesia => "ejabberd",
            EjabberdArchive::Sqlite => "ejabberd-sqlite",
            EjabberdArchive::None => "ejabberd-no-archive",
        };
        let mut target = Target::peer(kind, Api::new(&peer.http, "")?, Some(guard.pid()), None);
        target.log = Some(log);
        target.adopt(guard, dir);
        Ok((peer, target))
    }

    fn jid(&self, account: &Account) -> String {
        format!("{}@{}", account.user, self.domain)
    }
}

impl Peer for Ejabberd {
    async fn create_pairs(&self, run: &Run, count: u32, quiet: bool) -> anyhow::Result<Vec<PeerPair>> {
        let account = |i: u32, side: &str| Account {
            user: format!("{}-p{i}{side}", run.id),
            password: format!("pw-{}-{i}{side}", run.id),
        };
        let pairs: Vec<PeerPair> = (0..count)
            .map(|i| PeerPair {
                a: account(i, "a"),
                b: account(i, "b"),
                room: None,
            })
            .collect();
        let accounts: Vec<Account> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
        let bar = progress::steps("register", accounts.len() as u64, quiet);
        server::register(&self.http, &self.domain, accounts, REGISTER_CONCURRENCY, &bar).await?;
        bar.finish_and_clear();
        Ok(pairs)
    }

    async fn open(&self, link: Link, run: Arc<Run>) -> anyhow::Result<JoinHandle<Outcome>> {
        let peer_jid = self.jid(&link.peer);
        client::open(self.c2s, &self.domain, &peer_jid, link, run).await
    }
}
