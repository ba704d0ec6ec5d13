//! A smoke run of every scenario, a few seconds each, against Herald started in this process
//! (both buses) and the relay: correctness only (nothing lost, duplicated or misordered, no
//! refused send, no closed connection), never speed.

use clap::Parser;
use herald_loadtest::{Cli, Report};

const SECRET: &str = "smoke-test-app-secret-0123456789";

/// Herald in this process on a free port, with its own store (and NATS server).
struct Herald {
    running: Option<herald::Running>,
    url: String,
    _data: tempfile::TempDir,
    _nats: Option<herald_testkit::NatsServer>,
}

impl Herald {
    async fn start(nats: bool) -> Self {
        let nats = nats.then(herald_testkit::NatsServer::start);
        let data = tempfile::tempdir().unwrap();
        let mut args = vec![
            "herald".to_owned(),
            "up".to_owned(),
            "--http-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--app-secret".to_owned(),
            SECRET.to_owned(),
            "--data-dir".to_owned(),
            data.path().display().to_string(),
        ];
        if let Some(nats) = &nats {
            args.extend([
                "--nats-url".to_owned(),
                nats.url.clone(),
                "--partitions".to_owned(),
                "4".to_owned(),
            ]);
        }
        let cli = herald::Cli::parse_from(args);
        let running = herald::start(cli.role, cli.settings).await.expect("herald starts");
        Self {
            url: format!("http://{}", running.addr),
            running: Some(running),
            _data: data,
            _nats: nats,
        }
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

async fn run(url: &str, scenario: &[&str]) -> Report {
    let mut args = vec![
        "herald-loadtest",
        "--quiet",
        "--url",
        url,
        "--app-secret",
        SECRET,
        "--duration",
        "2",
    ];
    args.extend(scenario);
    let cli = Cli::parse_from(args);
    herald_loadtest::run(&cli).await.expect("the scenario runs")
}

fn assert_correct(report: &Report) {
    println!("{}", report.details().join("\n"));
    println!("{}", report.summary());
    assert!(report.acked > 0, "nothing was acknowledged");
    assert!(report.delivered > 0, "nothing was delivered");
    assert_eq!(report.tally.lost, 0, "lost messages");
    assert_eq!(report.tally.duplicated, 0, "duplicated messages");
    assert_eq!(report.tally.misordered, 0, "misordered messages");
    assert_eq!(report.tally.acked_twice, 0, "a Seq acknowledged twice");
    assert_eq!(report.errors, 0, "refused requests: {:?}", report.error_samples);
    assert_eq!(
        report.disconnects, 0,
        "closed connections: {:?}",
        report.disconnect_samples
    );
    assert!(report.drained, "acks or pushes still missing at the end");
    assert!(report.is_correct());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_embedded_over_every_channel() {
    let herald = Herald::start(false).await;
    let report = run(
        &herald.url,
        &[
            "chat",
            "--pairs",
            "10",
            "--window",
            "4",
            "--ws-per-session",
            "2",
            "--notify-ws-per-session",
            "1",
            "--sse-per-session",
            "1",
            "--poll-per-session",
            "1",
        ],
    )
    .await;
    assert_correct(&report);
    // every session's six connections received its conversation
    assert_eq!(report.connections, 10 * 2 * 5);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_nats() {
    let herald = Herald::start(true).await;
    let report = run(&herald.url, &["chat", "--pairs", "10", "--window", "4"]).await;
    assert_correct(&report);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_embedded() {
    let herald = Herald::start(false).await;
    let report = run(
        &herald.url,
        &[
            "group",
            "--members",
            "200",
            "--online",
            "50",
            "--senders",
            "2",
            "--window",
            "4",
        ],
    )
    .await;
    assert_correct(&report);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_nats() {
    let herald = Herald::start(true).await;
    let report = run(
        &herald.url,
        &[
            "group",
            "--members",
            "100",
            "--online",
            "30",
            "--senders",
            "2",
            "--window",
            "4",
        ],
    )
    .await;
    assert_correct(&report);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_embedded() {
    let herald = Herald::start(false).await;
    let report = run(
        &herald.url,
        &[
            "idle",
            "--connections",
            "300",
            "--hold",
            "1",
            "--probe-members",
            "20",
            "--probe-messages",
            "5",
            "--source-addrs",
            "3",
        ],
    )
    .await;
    assert_correct(&report);
    assert_eq!(report.acked, 5);
    assert_eq!(report.delivered, 5 * 20);
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_embedded() {
    let herald = Herald::start(false).await;
    let report = run(
        &herald.url,
        &[
            "history",
            "--pairs",
            "10",
            "--readers",
            "5",
            "--rate",
            "200",
            "--limit",
            "10",
        ],
    )
    .await;
    assert_correct(&report);
    let history = report.history.as_ref().expect("history figures");
    assert!(history.reads > 0, "no history read answered");
    assert_eq!(history.bad_pages, 0, "a page was not a contiguous run of Seq");
    herald.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_relay_and_jetstream() {
    let (addr, relay) = herald_loadtest::relay::start().await.expect("relay starts");
    let nats = herald_testkit::NatsServer::start();
    let url = format!("http://{addr}");
    let report = run(
        &url,
        &["baseline", "--pairs", "10", "--window", "4", "--nats-url", &nats.url],
    )
    .await;
    assert_correct(&report);
    let jetstream = report.jetstream.as_ref().expect("jetstream figures");
    assert!(jetstream.consumed > 0);
    assert!(jetstream.tally.is_clean(), "{:?}", jetstream.tally);
    relay.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_written() {
    let (addr, relay) = herald_loadtest::relay::start().await.expect("relay starts");
    let dir = tempfile::tempdir().unwrap();
    let report = run(
        &format!("http://{addr}"),
        &["group", "--members", "20", "--online", "10"],
    )
    .await;
    assert_correct(&report);
    let json = dir.path().join("report.json");
    let html = dir.path().join("report.html");
    report.write_json(&json).unwrap();
    herald_loadtest::html::write(&report, &html).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(parsed["scenario"], "group");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3);
    relay.abort();
}

#[test]
fn only_loopback_is_targeted() {
    let cli = Cli::parse_from(["herald-loadtest", "--url", "http://192.0.2.1:80", "chat"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime.block_on(herald_loadtest::run(&cli)).expect_err("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}
