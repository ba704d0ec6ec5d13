//! `herald-loadtest`: drives Herald the way real clients do (tokens, conversations, many
//! WebSockets, pipelined sends) and measures throughput, end-to-end latency and correctness,
//! side by side with the machine's own limits (a trivial relay, raw JetStream).

pub mod api;
pub mod cli;
pub mod connection;
pub mod frames;
pub mod html;
pub mod jetstream;
pub mod load;
pub mod notify;
pub mod peer;
pub mod procfs;
pub mod progress;
pub mod recorder;
pub mod relay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sender;
pub mod stages;
pub mod target;
pub mod tracker;
pub mod ws;

pub use cli::{Cli, Scenario, SpawnKind};
pub use report::Report;

use target::Target;

/// Runs the scenario `cli` names and returns its figures (the relay subcommand serves forever).
pub async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let common = &cli.common;
    match &cli.scenario {
        Scenario::Chat(args) => {
            let mut target = Target::open(common, SpawnKind::Embedded).await?;
            scenario::chat::run(common, args, &mut target, "chat").await
        }
        Scenario::Group(args) => {
            let mut target = Target::open(common, SpawnKind::Embedded).await?;
            scenario::group::run(common, args, &mut target).await
        }
        Scenario::Idle(args) => {
            let mut target = Target::open(common, SpawnKind::Embedded).await?;
            scenario::idle::run(common, args, &mut target).await
        }
        Scenario::History(args) => {
            let mut target = Target::open(common, SpawnKind::Embedded).await?;
            scenario::history::run(common, args, &mut target).await
        }
        Scenario::Baseline(args) => scenario::baseline::run(common, args).await,
        Scenario::Relay(args) => {
            ws::loopback_addr(&format!("http://{}", args.listen))?;
            relay::serve(args.listen, args.read_buffer).await?;
            anyhow::bail!("the relay stopped")
        }
    }
}

/// Raises this process's open-file limit to its hard limit (children inherit it); returns it.
pub fn raise_open_files() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}
