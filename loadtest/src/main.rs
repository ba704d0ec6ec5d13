//! `herald-loadtest`: parse flags, run the scenario, print the summary, write the reports.

use clap::Parser;
use herald_loadtest::{Cli, Scenario, compare, html};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    herald_loadtest::raise_open_files();
    if let Scenario::Compare(args) = &cli.scenario {
        let rows = compare::run(&cli, args).await;
        let table = compare::markdown(&rows, args);
        println!("{table}");
        if let Some(path) = &args.out {
            std::fs::write(path, &table)?;
        }
        return Ok(if compare::is_correct(&rows) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let report = herald_loadtest::run(&cli).await?;
    for line in report.details() {
        println!("{line}");
    }
    println!("{}", report.summary());
    if let Some(path) = &cli.common.json {
        report.write_json(path)?;
    }
    if let Some(path) = &cli.common.html {
        html::write(&report, path)?;
    }
    // figures are never a failure; lost, duplicated or misordered messages are
    Ok(if report.is_correct() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
