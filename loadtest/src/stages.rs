//! Where the time goes: the server's own stage histograms, scraped from `/metrics` before the
//! load and after the drain. The difference of each histogram's `_sum` and `_count` gives the
//! mean time of that stage over exactly this run, so a reader sees at once which stage holds
//! the floor (the relay has no `/metrics`: no stages).

use crate::api::Api;
use serde::Serialize;
use std::collections::BTreeMap;

/// The stages of one message's path, in order, with what each histogram measures.
pub const STAGES: [(&str, &str); 6] = [
    (
        "herald_command_ack_seconds",
        "gateway: command published -> the sequencer's answer",
    ),
    (
        "herald_sequence_batch_seconds",
        "sequencer: one batch, read to events published",
    ),
    (
        "herald_append_seconds",
        "store: one batch appended (the group commit's fsync)",
    ),
    ("herald_store_seconds", "store: one operation (reads and writes)"),
    (
        "herald_delivery_lag_seconds",
        "sequenced -> delivery fans the event out",
    ),
    ("herald_http_request_seconds", "HTTP requests (setup, history)"),
];

/// Batch sizes beside the stages: how much each round trip carries.
pub const SIZES: [&str; 4] = [
    "herald_publish_batch_size",
    "herald_append_batch_size",
    "herald_store_group_size",
    "herald_delivery_batch_size",
];

/// `_sum` and `_count` of every histogram of interest, summed over label sets.
#[derive(Debug, Clone, Default)]
pub struct Scrape(BTreeMap<String, (f64, f64)>);

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub metric: String,
    pub what: String,
    /// Observations during the run.
    pub count: f64,
    /// Mean per observation: milliseconds for a stage, items for a batch size.
    pub mean: f64,
}

impl Scrape {
    /// Reads the server's `/metrics`; `None` when it has none (the relay) or cannot be read.
    pub async fn take(api: &Api) -> Option<Scrape> {
        let response = api.get("/metrics").await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        Some(Scrape::parse(&response.text().await.ok()?))
    }

    pub fn parse(text: &str) -> Scrape {
        let mut figures: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else { continue };
            let name = series.split('{').next().unwrap_or(series);
            if let Some(metric) = name.strip_suffix("_sum") {
                figures.entry(metric.to_owned()).or_default().0 += value;
            } else if let Some(metric) = name.strip_suffix("_count") {
                figures.entry(metric.to_owned()).or_default().1 += value;
            }
        }
        Scrape(figures)
    }

    /// The stages and batch sizes observed between `before` and `self`.
    pub fn since(&self, before: &Scrape) -> Vec<Stage> {
        let delta = |metric: &str| {
            let (sum, count) = self.0.get(metric).copied().unwrap_or_default();
            let (sum0, count0) = before.0.get(metric).copied().unwrap_or_default();
            (sum - sum0, count - count0)
        };
        let stages = STAGES.iter().map(|(metric, what)| (*metric, *what, 1000.0));
        let sizes = SIZES.iter().map(|metric| (*metric, "items per batch", 1.0));
        stages
            .chain(sizes)
            .filter_map(|(metric, what, scale)| {
                let (sum, count) = delta(metric);
                (count > 0.0).then(|| Stage {
                    metric: metric.to_owned(),
                    what: what.to_owned(),
                    count,
                    mean: sum / count * scale,
                })
            })
            .collect()
    }
}

/// One line per stage for the console.
pub fn lines(stages: &[Stage]) -> Vec<String> {
    stages
        .iter()
        .map(|s| {
            let unit = if s.metric.ends_with("_seconds") { " ms" } else { "" };
            format!(
                "stage {:<32} mean {:>9.3}{unit:<3} x {:>9.0}  ({})",
                s.metric, s.mean, s.count, s.what
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_the_mean_of_its_histogram_over_the_run() {
        let before = Scrape::parse(
            "# TYPE herald_append_seconds histogram\n\
             herald_append_seconds_sum 1.0\nherald_append_seconds_count 100\n",
        );
        let after = Scrape::parse(
            "herald_append_seconds_bucket{le=\"0.005\"} 300\n\
             herald_append_seconds_sum 1.8\nherald_append_seconds_count 300\n\
             herald_append_batch_size_sum{pod=\"a\"} 1000\nherald_append_batch_size_count{pod=\"a\"} 10\n\
             herald_append_batch_size_sum{pod=\"b\"} 1000\nherald_append_batch_size_count{pod=\"b\"} 10\n",
        );
        let stages = after.since(&before);
        let append = stages.iter().find(|s| s.metric == "herald_append_seconds").unwrap();
        assert_eq!(append.count, 200.0);
        assert!(
            (append.mean - 4.0).abs() < 1e-9,
            "0.8 s over 200 appends: 4 ms, got {}",
            append.mean
        );
        let batch = stages.iter().find(|s| s.metric == "herald_append_batch_size").unwrap();
        assert_eq!((batch.count, batch.mean), (20.0, 100.0));
        assert!(
            stages.iter().all(|s| s.metric != "herald_delivery_lag_seconds"),
            "unobserved stages are left out"
        );
    }
}
