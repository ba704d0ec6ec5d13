//! `herald`: thin main. Settings → tracing → start → wait for SIGTERM/SIGINT → drain.

use clap::Parser;
use herald::{Cli, Role};

/// mimalloc rather than glibc's allocator: the message path allocates per frame and per
/// record on many threads, and glibc's malloc/free was a fifth of the server's profile
/// (`loadtest/RESULTS.md`, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // before any HTTP client (the OTLP exporter's, the webhooks')
    herald_webhooks::install_tls_provider();
    let cli = Cli::parse();
    let role = format!("{:?}", cli.role).to_lowercase();
    let otlp = cli
        .settings
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| (endpoint, cli.settings.otlp_protocol));
    let _tracing = herald::init_tracing(cli.settings.log_format, otlp, &format!("herald-{role}"));
    if cli.role == Role::Migrate {
        return match herald::migrate(&cli.settings).await {
            Ok(done) => {
                println!("{done}");
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("herald: {err:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let running = match herald::start(cli.role, cli.settings.clone()).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("herald: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if matches!(cli.role, Role::Up | Role::Gateway) {
        let addr = running.addr;
        println!("Herald is listening on http://{addr}");
        if cli.settings.web_ui {
            println!("  Web app:    http://{addr}/app/      Console: http://{addr}/console-ui/");
        }
        println!("  WebSocket:  ws://{addr}/ws?token=<client token>");
        println!("  Push:       ws://{addr}/notify?protoc=ws&token=<client token>");
        let ops = running.admin_addr.unwrap_or(addr);
        println!("  Health:     http://{ops}/healthz   Metrics: http://{ops}/metrics");
        if let Some(secret) = &running.generated_secret {
            println!("App `default` created. Its secret is shown only this once; keep it:");
            println!("  HERALD_APP_SECRET={secret}");
        }
    }
    wait_for_signal().await;
    tracing::info!("signal received: draining");
    running.stop().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
