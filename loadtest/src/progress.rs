//! The progress bar shown during a run (on a terminal, unless `--quiet`).

use crate::run::{Counters, Run};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A bar over `seconds` of load, redrawn from the run's counters until dropped.
pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    pub fn start(run: Arc<Run>, seconds: u64, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::with_draw_target(Some(seconds), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(seconds)
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:24}] {pos:>3}/{len}s {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix("load");
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut last = (0u64, std::time::Instant::now());
            let mut rate = 0.0;
            loop {
                tick.tick().await;
                let c = &run.counters;
                let acked = Counters::get(&c.acked);
                let now = std::time::Instant::now();
                let dt = now.duration_since(last.1).as_secs_f64();
                if dt >= 1.0 {
                    rate = (acked - last.0) as f64 / dt;
                    last = (acked, now);
                }
                ticking.set_position(run.elapsed().as_secs().min(seconds));
                ticking.set_message(format!(
                    "{rate:>8.0} msg/s  sent {}  acked {}  delivered {}  reads {}  conns {}  errors {}  closed {}",
                    Counters::get(&c.sent),
                    acked,
                    Counters::get(&c.delivered),
                    Counters::get(&c.reads),
                    Counters::get(&c.connections),
                    Counters::get(&c.errors),
                    Counters::get(&c.disconnects),
                ));
            }
        });
        Self { bar, ticker }
    }

    pub fn phase(&self, name: &'static str) {
        self.bar.set_prefix(name);
    }

    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// A bar counting steps of a set-up phase (tokens, connections).
pub fn steps(name: &'static str, total: u64, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:24}] {pos}/{len} {per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name);
    bar
}
