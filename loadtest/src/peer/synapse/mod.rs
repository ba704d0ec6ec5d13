//! Synapse, the Matrix reference homeserver, as a peer: [`server`] starts it on a private
//! PostgreSQL, [`client`] speaks the client-server API, [`user`] runs one user under load with
//! the harness's accounting.
//!
//! Plugging it into a run: start a [`SynapseServer`], make a [`SynapseClient`] on its
//! `base_url` and `shared_secret`, create [`client::Pair`]s with `SynapseClient::pairs`, then per
//! pair `i` call [`spawn_user`] for `a` (sends under `"{i}a"`, receives `"{i}b"`) and for `b`
//! (sends `"{i}b"`, receives `"{i}a"`); `Run::go`, stop, drain and tally as for Herald. The
//! server's pids are `synapse_pid` (the `Target.server_pid` slot) and `postgres_pid` (the
//! companion: count its backends with `server::cpu_seconds_with_children`).

pub mod client;
pub mod server;
pub mod user;

pub use client::{SynapseClient, User};
pub use server::{Install, SynapseServer};
pub use user::spawn_user;

use super::{Account, Link, Peer, PeerPair};
use crate::api::Api;
use crate::cli::Common;
use crate::connection::Outcome;
use crate::run::Run;
use crate::target::Target;
use anyhow::Context;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Synapse under the chat workload. An [`Account`] here is a Matrix user id and its access
/// token (in `password`): users are registered with the shared secret, not logged in.
pub struct Synapse {
    client: SynapseClient,
}

impl Synapse {
    /// Attaches to `--url` (its `--app-secret` is the homeserver's registration shared secret),
    /// or starts Synapse and its PostgreSQL from `--synapse-venv`.
    pub async fn open(common: &Common) -> anyhow::Result<(Self, Target)> {
        if let Some(url) = &common.url {
            crate::ws::loopback_addr(url)?;
            let secret = common
                .app_secret
                .as_deref()
                .context("--target-kind synapse with --url needs its registration shared secret (--app-secret)")?;
            let client = SynapseClient::new(url, secret)?;
            let target = Target::peer("synapse", Api::new(url, "")?, common.server_pid, None);
            return Ok((Self { client }, target));
        }
        let install = Install::find(&common.synapse_venv)?;
        let server = SynapseServer::start(&install).await?;
        if !common.quiet {
            eprintln!(
                "synapse: {} (pid {}), PostgreSQL pid {}",
                server.base_url, server.synapse_pid, server.postgres_pid
            );
        }
        let client = SynapseClient::new(&server.base_url, &server.shared_secret)?;
        let mut target = Target::peer(
            "synapse",
            Api::new(&server.base_url, "")?,
            Some(server.synapse_pid),
            Some(server.postgres_pid),
        );
        target.log = Some(server.synapse_log.clone());
        target.hold(server);
        Ok((Self { client }, target))
    }
}

fn account(user: &User) -> Account {
    Account {
        user: user.user_id.clone(),
        password: user.token.clone(),
    }
}

impl Peer for Synapse {
    async fn create_pairs(&self, run: &Run, count: u32, _quiet: bool) -> anyhow::Result<Vec<PeerPair>> {
        let pairs = self.client.pairs(&run.id, count).await?;
        Ok(pairs
            .into_iter()
            .map(|pair| PeerPair {
                a: account(&pair.a),
                b: account(&pair.b),
                room: Some(pair.room),
            })
            .collect())
    }

    async fn open(&self, link: Link, run: Arc<Run>) -> anyhow::Result<JoinHandle<Outcome>> {
        let user = User {
            user_id: link.me.user,
            token: link.me.password,
        };
        let room = link.room.context("a Synapse pair has a room")?;
        // one message in flight per room, as Matrix clients send (see `user`: concurrent sends
        // to one room are stored in any order)
        let mut pace = link.pace;
        pace.window = 1;
        spawn_user(
            &self.client,
            &user,
            &room,
            Some((link.send_key, pace)),
            link.recv_key,
            run,
        )
        .await
    }
}
