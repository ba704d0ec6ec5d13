//! Synapse (on PostgreSQL) spawned by the harness: shared-secret registration, a private room
//! per pair, `PUT …/send/{txnId}` answered with an event id, `/sync` long-polls; nothing is left
//! running afterwards. Runs when `HERALD_TEST_SYNAPSE` names a virtualenv with
//! `matrix-synapse[postgres]`.

use clap::Parser;
use herald_loadtest::Cli;
use herald_loadtest::peer::synapse::Install;

const INSTALL_HINT: &str = "apt-get install postgresql; python3 -m venv .venv-synapse && \
     .venv-synapse/bin/pip install 'matrix-synapse[postgres]'; then HERALD_TEST_SYNAPSE=.venv-synapse";

/// Processes running Synapse's homeserver that are children of this test.
fn our_homeservers() -> usize {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat
                .rfind(')')
                .and_then(|at| stat[at + 1..].split_whitespace().nth(1)?.parse::<u32>().ok());
            parent == Some(me) && String::from_utf8_lossy(&cmdline).contains("synapse.app.homeserver")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_on_synapse_loses_nothing() {
    let Some(venv) = std::env::var("HERALD_TEST_SYNAPSE").ok() else {
        println!("skipped: Synapse not installed ({INSTALL_HINT})");
        return;
    };
    // named but unusable is a failure, not a skip
    Install::find(std::path::Path::new(&venv)).expect("HERALD_TEST_SYNAPSE names a usable install");
    let cli = Cli::parse_from([
        "herald-loadtest",
        "--quiet",
        "--spawn",
        "synapse",
        "--synapse-venv",
        &venv,
        "--duration",
        "3",
        "chat",
        "--pairs",
        "3",
    ]);
    let report = herald_loadtest::run(&cli).await.expect("the chat runs on Synapse");
    super::assert_correct(&report);
    assert_eq!(report.target, "synapse");
    assert_eq!(report.connections, 6);
    assert_eq!(report.acked, report.sent, "every send answered with an event id");
    assert!(report.server.cpu_seconds.is_some(), "Synapse's CPU was not read");
    assert!(
        report.server.nats_cpu_seconds.is_some(),
        "PostgreSQL's CPU was not read"
    );
    assert_eq!(our_homeservers(), 0, "Synapse still running after the run");
}
