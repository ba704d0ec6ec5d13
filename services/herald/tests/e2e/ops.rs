//! Operations surface: secrets stay out of `--help`, errors and logs; `/metrics` can move to an
//! admin address.

use crate::support::{SECRET, settings_args};
use clap::Parser;
use herald::Cli;
use std::process::{Command, Stdio};
use std::time::Duration;

const URL_WITH_PASSWORD: &str = "nats://u:secretpw@127.0.0.1:1";

#[test]
fn help_never_prints_the_nats_url_or_passwords_from_the_environment() {
    for args in [&["--help"][..], &["gateway", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_NATS_URL", URL_WITH_PASSWORD)
            .env("HERALD_NATS_PASSWORD", "natspass-42")
            .env("HERALD_APP_SECRET", SECRET)
            .output()
            .expect("herald --help runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("HERALD_NATS_URL") && text.contains("HERALD_NATS_CREDS"),
            "{text}"
        );
        for secret in ["secretpw", "natspass-42", SECRET] {
            assert!(!text.contains(secret), "{args:?} prints {secret}:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_nats_connect_logs_and_reports_no_password() {
    // a port nobody listens on; debug logs include the NATS client's own
    let url = format!("nats://u:secretpw@127.0.0.1:{}", herald_testkit::free_port());
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("gateway")
        .env("HERALD_NATS_URL", &url)
        .env("HERALD_LOG", "debug")
        .env("HERALD_HTTP_ADDR", "127.0.0.1:0")
        .env("HERALD_DATA_DIR", dir.path())
        .env("HERALD_APP_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("herald gives up on an unreachable NATS")
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("NATS at nats://***@127.0.0.1:"),
        "the error names the server, redacted:\n{text}"
    );
    assert!(!text.contains("secretpw"), "the password leaks:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_the_admin_address_when_one_is_set() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut args = settings_args(data_dir.path(), None);
    args.extend(["--admin-addr".into(), "127.0.0.1:0".into()]);
    let cli = Cli::parse_from(args);
    let running = herald::start(cli.role, cli.settings).await.expect("herald starts");
    let admin = running.admin_addr.expect("an admin address");
    assert_ne!(admin, running.addr);
    let http = crate::support::http_client();
    let get = |addr: std::net::SocketAddr, path: &'static str| {
        let http = http.clone();
        async move {
            let response = http.get(format!("http://{addr}{path}")).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, metrics) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("herald_"), "{metrics}");
    assert_eq!(get(admin, "/healthz").await.0, 200);
    assert_eq!(get(admin, "/readyz").await.0, 200);
    assert_eq!(
        get(admin, "/openapi.json").await.0,
        404,
        "the admin address serves only the ops routes"
    );
    let (status, body) = get(running.addr, "/metrics").await;
    assert_eq!(status, 404, "no /metrics on the public address: {body}");
    assert_eq!(
        get(running.addr, "/healthz").await.0,
        200,
        "probes stay on the public address"
    );
    running.stop().await;

    // unset: everything on the one address, as before
    let data_dir = tempfile::tempdir().unwrap();
    let cli = Cli::parse_from(settings_args(data_dir.path(), None));
    let running = herald::start(cli.role, cli.settings).await.expect("herald starts");
    assert!(running.admin_addr.is_none());
    assert_eq!(get(running.addr, "/metrics").await.0, 200);
    running.stop().await;
}
