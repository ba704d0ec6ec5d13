//! Other chat servers under the `chat` workload, measured exactly as Herald is: the same pairs,
//! pace, latency samples and lost / duplicated / misordered accounting, through
//! `load::measure`.
//!
//! A peer has no server `Seq`, so each sending connection numbers its messages 1, 2, 3… and puts
//! the number and the send time in the body ([`body`]). The "conversation" of the trackers is
//! the direction: `"<pair>a"` for a → b, `"<pair>b"` for b → a; the sender records what the
//! server acknowledged under it, the receiver what arrived, and `tracker::tally` does the rest.
//!
//! A peer plugs in with a [`Peer`] (make pairs of users, open one user's connection) and a
//! starter that returns it with the [`Target`] the report reads (process ids for CPU and memory,
//! the children to stop); [`chat::run`] does the rest.

pub mod chat;
pub mod ejabberd;
pub mod synapse;

use crate::cli::{Common, PeerKind};
use crate::connection::Outcome;
use crate::run::Run;
use crate::sender::Pace;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A user account on the peer.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub password: String,
}

/// Two accounts that talk, and what the peer needs for them to (a Matrix room; none in XMPP).
#[derive(Debug, Clone)]
pub struct PeerPair {
    pub a: Account,
    pub b: Account,
    pub room: Option<String>,
}

/// One connection of the workload: who it is, whom it talks to, and how fast.
#[derive(Debug, Clone)]
pub struct Link {
    pub me: Account,
    pub peer: Account,
    pub room: Option<String>,
    /// Tracker key of the messages this connection sends (`"<pair>a"` or `"<pair>b"`).
    pub send_key: String,
    /// Tracker key of the messages it receives from its peer.
    pub recv_key: String,
    pub pace: Pace,
    /// Loopback source address of the connection.
    pub source: IpAddr,
}

/// What the chat workload needs from a peer server.
pub trait Peer: Send + Sync + 'static {
    /// `count` pairs of fresh accounts (named after `run.id`), registered and ready to talk.
    fn create_pairs(
        &self,
        run: &Run,
        count: u32,
        quiet: bool,
    ) -> impl Future<Output = anyhow::Result<Vec<PeerPair>>> + Send;

    /// Opens and logs in `link.me`'s connection, ready to receive live (an error if it cannot),
    /// then runs it as a task: it sends to `link.peer` per `link.pace` once the run starts
    /// (`sender::Turns`), records acks and receipts (see the module doc), and hands in its
    /// `Outcome` when the run stops reading. It counts itself in `run.counters.connections`.
    fn open(&self, link: Link, run: Arc<Run>) -> impl Future<Output = anyhow::Result<JoinHandle<Outcome>>> + Send;
}

/// Body of message `n`: the send time (µs into the run, first, as in Herald's content, so
/// `frames::sent_us_of_content` reads it), the number, then padding to `size` bytes.
pub fn body(sent_us: u64, n: u64, size: usize) -> String {
    let mut text = format!("{sent_us} {n} ");
    while text.len() < size {
        text.push('x');
    }
    text
}

/// The send time and number a [`body`] carries.
pub fn parse_body(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.split(' ');
    let sent_us = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    Some((sent_us, n))
}

/// Runs `chat` against the peer `kind` names: spawned (`--spawn`), or running (`--url` with
/// `--target-kind`).
pub async fn run_chat(
    common: &Common,
    args: &crate::cli::ChatArgs,
    kind: PeerKind,
) -> anyhow::Result<crate::report::Report> {
    match kind {
        PeerKind::Ejabberd => {
            let (peer, mut target) = ejabberd::Ejabberd::open(common, args.pairs).await?;
            chat::run(&peer, &mut target, common, args).await
        }
        PeerKind::Synapse => {
            let (peer, mut target) = synapse::Synapse::open(common).await?;
            chat::run(&peer, &mut target, common, args).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_carries_time_and_number_in_its_size() {
        let text = body(123_456, 7, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_body(&text), Some((123_456, 7)));
        assert_eq!(crate::frames::sent_us_of_content(&text), Some(123_456));
        assert_eq!(parse_body("12"), None);
    }
}
