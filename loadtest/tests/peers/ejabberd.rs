//! ejabberd spawned by the harness: XMPP login, 1:1 messages, stream-management acks.

use clap::Parser;
use herald_loadtest::Cli;
use herald_loadtest::peer::ejabberd::server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_on_ejabberd_loses_nothing() {
    if server::installation().is_none() {
        println!("skipped: ejabberd not installed ({})", server::INSTALL_HINT);
        return;
    }
    let cli = Cli::parse_from([
        "herald-loadtest",
        "--quiet",
        "--spawn",
        "ejabberd",
        "--duration",
        "2",
        "chat",
        "--pairs",
        "4",
        "--window",
        "4",
    ]);
    let report = herald_loadtest::run(&cli).await.expect("the chat runs on ejabberd");
    super::assert_correct(&report);
    assert_eq!(report.target, "ejabberd");
    assert_eq!(report.connections, 8);
    // every send was acknowledged through XEP-0198 and its latency recorded
    assert_eq!(report.acked, report.sent);
    assert_eq!(report.ack_latency.count, report.acked);
    assert!(report.server.cpu_seconds.is_some(), "the server's CPU was not read");
}
