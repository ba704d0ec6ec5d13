//! `group`: fan-out in one large conversation; a few online members send, every online
//! member receives every message.

use super::json_string;
use crate::cli::{Common, GroupArgs};
use crate::connection::Role;
use crate::load::{self, LARGE_READ_BUFFER, Load, WsSpec};
use crate::report::Report;
use crate::run::Run;
use crate::sender::{Pace, Work};
use crate::target::Target;

pub async fn run(common: &Common, args: &GroupArgs, target: &mut Target) -> anyhow::Result<Report> {
    anyhow::ensure!(args.online <= args.members, "--online must not exceed --members");
    anyhow::ensure!(args.senders <= args.online, "--senders must not exceed --online");
    let run = Run::new(common.size as usize, common.burst);
    let members: Vec<String> = (0..args.members).map(|i| format!("{}-m{i}", run.id)).collect();
    let online = &members[..args.online as usize];
    let tokens = super::tokens(&target.api, online, common.quiet).await?;
    let conv = target.api.create_group(&members).await?;
    let fanout = u64::from(args.online);
    let pace = Pace {
        rate: (args.send.rate > 0.0).then(|| args.send.rate / f64::from(args.senders)),
        window: args.send.window,
        max_backlog: Some(args.send.max_backlog * fanout),
        limit: None,
    };
    let specs = online
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (session, token))| WsSpec {
            path: format!("/ws?token={token}"),
            role: Role {
                session: session.clone(),
                convs: vec![conv.clone()],
                history_limit: 0,
            },
            work: (i < args.senders as usize).then(|| Work::Messages {
                conv_json: json_string(&conv),
                key_prefix: format!("{}-g{i}", run.id),
                fanout,
                pace,
            }),
            read_buffer: LARGE_READ_BUFFER,
        })
        .collect();
    let mut load = Load::new(run.clone(), common, u64::from(args.online));
    load.open(target, specs, super::chat::CONNECT_CONCURRENCY, common.quiet)
        .await?;
    let finished = load::measure(load, target, common, "group", common.duration).await?;
    Ok(finished.report)
}
