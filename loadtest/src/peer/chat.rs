//! `chat` on a peer: the same 1:1 pairs, pace and accounting as `scenario::chat`, through the
//! peer's own protocol, measured by `load::measure`.

use super::{Link, Peer};
use crate::cli::{ChatArgs, Common};
use crate::load::{self, Load};
use crate::progress;
use crate::report::Report;
use crate::run::Run;
use crate::sender::Pace;
use crate::target::Target;
use crate::ws::Sources;
use futures::{StreamExt, TryStreamExt};

/// Connections logged in at once while preparing.
pub const CONNECT_CONCURRENCY: usize = 64;

pub async fn run<P: Peer>(peer: &P, target: &mut Target, common: &Common, args: &ChatArgs) -> anyhow::Result<Report> {
    if args.ws_per_session != 1 || args.notify_ws_per_session + args.sse_per_session + args.poll_per_session > 0 {
        anyhow::bail!("a peer has one connection per user: leave the per-session connection flags at their defaults");
    }
    let run = Run::new(common.size as usize, common.burst);
    let pairs = peer.create_pairs(&run, args.pairs, common.quiet).await?;
    let senders = 2 * pairs.len() as u64;
    // each message has one receiving connection: the other user's
    let pace = Pace {
        rate: (args.send.rate > 0.0).then(|| args.send.rate / senders as f64),
        window: args.send.window,
        max_backlog: Some(args.send.max_backlog * senders),
        limit: None,
    };
    let sources = Sources::new(common.source_addrs, senders);
    let mut links = Vec::with_capacity(senders as usize);
    for (i, pair) in pairs.iter().enumerate() {
        for (me, other, side, other_side) in [(&pair.a, &pair.b, "a", "b"), (&pair.b, &pair.a, "b", "a")] {
            links.push(Link {
                me: me.clone(),
                peer: other.clone(),
                room: pair.room.clone(),
                send_key: format!("{i}{side}"),
                recv_key: format!("{i}{other_side}"),
                pace,
                source: sources.for_connection(links.len() as u64),
            });
        }
    }
    let bar = progress::steps("connect", links.len() as u64, common.quiet);
    let opened: anyhow::Result<Vec<_>> = futures::stream::iter(links)
        .map(|link| {
            let run = run.clone();
            let bar = bar.clone();
            async move {
                let handle = peer.open(link, run).await?;
                bar.inc(1);
                anyhow::Ok(handle)
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await;
    bar.finish_and_clear();
    let handles = match opened {
        Ok(handles) => handles,
        Err(err) => {
            // the connections already open end their tasks and close
            run.stop_sending.cancel();
            run.stop_reading.cancel();
            return Err(err);
        }
    };
    let mut load = Load::new(run, common, senders);
    load.handles = handles;
    let finished = load::measure(load, target, common, "chat", common.duration).await?;
    Ok(finished.report)
}
