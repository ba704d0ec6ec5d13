//! `chat`: 1:1 conversations; both sessions of each send to it, at a target or the maximum rate.

use super::{json_string, pairs};
use crate::cli::{ChatArgs, Common};
use crate::connection::Role;
use crate::load::{self, LARGE_READ_BUFFER, Load, SMALL_READ_BUFFER, WsSpec};
use crate::notify;
use crate::report::Report;
use crate::run::Run;
use crate::sender::{Pace, Work};
use crate::target::Target;

/// Connections opened at once while preparing.
pub const CONNECT_CONCURRENCY: usize = 64;

enum Stream {
    Sse,
    Poll,
}

pub async fn run(common: &Common, args: &ChatArgs, target: &mut Target, scenario: &str) -> anyhow::Result<Report> {
    let run = Run::new(common.size as usize, common.burst);
    let pairs = pairs::create(&target.api, &run, args.pairs, common.quiet).await?;
    let per_session =
        u64::from(args.ws_per_session + args.notify_ws_per_session + args.sse_per_session + args.poll_per_session);
    let fanout = 2 * per_session;
    let senders = 2 * pairs.len() as u64;
    let receivers = pairs.len() as u64 * fanout;
    let pace = Pace {
        rate: (args.send.rate > 0.0).then(|| args.send.rate / senders as f64),
        window: args.send.window,
        max_backlog: Some(args.send.max_backlog * receivers),
        limit: None,
    };
    let mut specs = Vec::new();
    let mut streams = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        for (side, session, token) in [("a", &pair.a, &pair.token_a), ("b", &pair.b, &pair.token_b)] {
            let role = Role {
                session: session.clone(),
                convs: vec![pair.conv.clone()],
                history_limit: 0,
            };
            for k in 0..args.ws_per_session {
                let work = (k == 0).then(|| Work::Messages {
                    conv_json: json_string(&pair.conv),
                    key_prefix: format!("{}-{i}{side}", run.id),
                    fanout,
                    pace,
                });
                specs.push(WsSpec {
                    path: format!("/ws?token={token}"),
                    role: role.clone(),
                    work,
                    read_buffer: LARGE_READ_BUFFER,
                });
            }
            for _ in 0..args.notify_ws_per_session {
                specs.push(WsSpec {
                    path: format!("/notify?protoc=ws&token={token}"),
                    role: role.clone(),
                    work: None,
                    read_buffer: SMALL_READ_BUFFER,
                });
            }
            for _ in 0..args.sse_per_session {
                streams.push((token.clone(), role.clone(), Stream::Sse));
            }
            for _ in 0..args.poll_per_session {
                streams.push((token.clone(), role.clone(), Stream::Poll));
            }
        }
    }
    let mut load = Load::new(run.clone(), common, specs.len() as u64);
    load.open(target, specs, CONNECT_CONCURRENCY, common.quiet).await?;
    let api = &target.api;
    let opening = streams.into_iter().map(|(token, role, kind)| {
        let run = run.clone();
        async move {
            match kind {
                Stream::Sse => notify::spawn_sse(api, &token, role, run).await,
                Stream::Poll => notify::spawn_poll(api, &token, role, run).await,
            }
        }
    });
    load.handles.extend(futures::future::try_join_all(opening).await?);
    let finished = load::measure(load, target, common, scenario, common.duration).await?;
    Ok(finished.report)
}
