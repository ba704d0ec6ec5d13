//! `history`: `msg-listHistory` reads of the newest page while the same conversations are
//! written to. Every page must be a contiguous run of `Seq`.

use super::{json_string, pairs};
use crate::cli::{Common, HistoryArgs};
use crate::connection::Role;
use crate::load::{self, LARGE_READ_BUFFER, Load, WsSpec};
use crate::report::{HistoryFigures, Latency, Report};
use crate::run::Run;
use crate::sender::{Pace, Work};
use crate::target::Target;

pub async fn run(common: &Common, args: &HistoryArgs, target: &mut Target) -> anyhow::Result<Report> {
    anyhow::ensure!(
        target.kind != "relay",
        "the relay stores nothing: compare `history` with the `chat` baseline"
    );
    anyhow::ensure!(args.readers <= args.pairs, "--readers must not exceed --pairs");
    let run = Run::new(common.size as usize, common.burst);
    let pairs = pairs::create(&target.api, &run, args.pairs, common.quiet).await?;
    let writers = 2 * pairs.len() as u64;
    let receivers = writers + u64::from(args.readers);
    let mut specs = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let has_reader = i < args.readers as usize;
        let fanout = if has_reader { 3 } else { 2 };
        let pace = Pace {
            rate: (args.rate > 0.0).then(|| args.rate / writers as f64),
            window: args.window,
            max_backlog: Some(args.max_backlog * receivers),
            limit: None,
        };
        let role = |session: &str| Role {
            session: session.to_owned(),
            convs: vec![pair.conv.clone()],
            history_limit: args.limit,
        };
        for (side, session, token) in [("a", &pair.a, &pair.token_a), ("b", &pair.b, &pair.token_b)] {
            specs.push(WsSpec {
                path: format!("/ws?token={token}"),
                role: role(session),
                work: Some(Work::Messages {
                    conv_json: json_string(&pair.conv),
                    key_prefix: format!("{}-{i}{side}", run.id),
                    fanout,
                    pace,
                }),
                read_buffer: LARGE_READ_BUFFER,
            });
        }
        if has_reader {
            specs.push(WsSpec {
                path: format!("/ws?token={}", pair.token_a),
                role: role(&pair.a),
                work: Some(Work::History {
                    conv_json: json_string(&pair.conv),
                    limit: args.limit,
                    pace: Pace {
                        rate: (args.read_rate > 0.0).then(|| args.read_rate / f64::from(args.readers)),
                        window: args.read_window,
                        max_backlog: None,
                        limit: None,
                    },
                }),
                read_buffer: LARGE_READ_BUFFER,
            });
        }
    }
    let mut load = Load::new(run.clone(), common, specs.len() as u64);
    load.open(target, specs, super::chat::CONNECT_CONCURRENCY, common.quiet)
        .await?;
    let finished = load::measure(load, target, common, "history", common.duration).await?;
    let mut report = finished.report;
    let reads = finished.recorded.read.len();
    report.history = Some(HistoryFigures {
        reads,
        reads_per_second: reads as f64 / report.seconds,
        latency: Latency::of(&finished.recorded.read),
        bad_pages: finished.outcomes.iter().map(|o| o.bad_pages).sum(),
    });
    Ok(report)
}
