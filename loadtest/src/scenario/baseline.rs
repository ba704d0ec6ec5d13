//! `baseline`: the machine's own limits, measured with the same clients — the `chat` workload
//! through the trivial relay, and raw JetStream publish/consume on a NATS server.

use crate::cli::{BaselineArgs, Common, SpawnKind};
use crate::jetstream;
use crate::report::Report;
use crate::target::{self, Target};
use std::time::Duration;

pub async fn run(common: &Common, args: &BaselineArgs) -> anyhow::Result<Report> {
    let mut relay = Target::open(common, SpawnKind::Relay).await?;
    let mut report = super::chat::run(common, &args.chat, &mut relay, "baseline").await?;
    drop(relay);
    if !args.skip_jetstream {
        let (_guard, url) = match &common.nats_url {
            Some(url) => (None, url.clone()),
            None => {
                let (guard, url, dir) = target::spawn_nats(common)?;
                (Some((guard, dir)), url)
            }
        };
        crate::ws::loopback_addr(&url)?;
        if !common.quiet {
            eprintln!("jetstream: publishing for {}s on {url}", common.duration);
        }
        report.jetstream = Some(
            jetstream::run(
                &url,
                Duration::from_secs(common.duration),
                args.js_window as usize,
                common.size as usize + 100,
                Duration::from_secs(common.drain_timeout),
            )
            .await?,
        );
    }
    Ok(report)
}
