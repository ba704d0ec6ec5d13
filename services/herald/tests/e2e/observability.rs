//! `/metrics` exposes exactly the documented catalogue; the README carries it.

use crate::support::{BusKind, Herald};
use herald::catalogue::{CATALOGUE, Kind};
use serde_json::json;
use std::collections::BTreeSet;

/// Metric family names in a Prometheus text scrape.
pub fn families(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| l.starts_with("herald_"))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .map(|name| {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && CATALOGUE.iter().any(|m| m.name == base && m.kind == Kind::Histogram)
                {
                    return base.to_owned();
                }
            }
            name.to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_catalogue() {
    let herald = Herald::start(BusKind::Nats).await;
    let api = herald.api();
    let token = api.token("observer", 1).await;
    let conv = api.create_group(&token, &["peer"]).await;
    let mut ws = api.ws(&api.token("peer", 1).await).await;
    for i in 0..5 {
        let (status, _) = api
            .post(
                "/send_msg",
                &token,
                json!({"conversation_id": conv, "content": format!("{i}")}),
            )
            .await;
        assert_eq!(status, 200);
        ws.next_message().await;
    }
    let (status, _) = api.post("/send_msg", "bad token", json!({})).await;
    assert_eq!(status, 401);
    let scrape = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exposed = families(&scrape);
    let documented: BTreeSet<String> = CATALOGUE.iter().map(|m| m.name.to_owned()).collect();
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "exposed but not in the catalogue: {undocumented:?}"
    );
    let missing: Vec<_> = CATALOGUE
        .iter()
        .filter(|m| m.labels.is_empty() && m.kind != Kind::Histogram)
        .filter(|m| !exposed.contains(m.name))
        .map(|m| m.name)
        .collect();
    assert!(missing.is_empty(), "in the catalogue but not exposed: {missing:?}");
    for used in [
        "herald_append_seconds",
        "herald_command_ack_seconds",
        "herald_connections",
        "herald_consumer_pending",
        "herald_http_requests_total",
        "herald_request_errors_total",
    ] {
        assert!(exposed.contains(used), "{used} is exposed after traffic");
    }
    herald.stop().await;
}

#[test]
fn the_readme_lists_the_catalogue() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains(&herald::catalogue::markdown()),
        "README.md's metrics table differs from the catalogue; paste:\n{}",
        herald::catalogue::markdown()
    );
}

/// The `herald_*` metric names a text uses (`herald_[a-z_]+` tokens), histogram series
/// (`_bucket`, `_sum`, `_count`) folded into their family.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("herald_") {
        let before = rest[..at].chars().next_back();
        let token: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        rest = &rest[at + token.len().max("herald_".len())..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') || token.len() == "herald_".len() {
            continue;
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| token.strip_suffix(suffix))
            .find(|base| CATALOGUE.iter().any(|m| m.name == *base && m.kind == Kind::Histogram))
            .map(str::to_owned);
        names.insert(family.unwrap_or(token));
    }
    names
}

/// The Grafana dashboard and the Prometheus alerts (k8s/monitoring, linked into the Helm chart)
/// only query metrics of the catalogue: a renamed or removed metric fails here, not in production.
#[test]
fn dashboard_and_alerts_use_only_catalogued_metrics() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let documented: BTreeSet<&str> = CATALOGUE.iter().map(|m| m.name).collect();
    let mut unknown = Vec::new();
    for file in [
        "k8s/monitoring/grafana-dashboard.json",
        "k8s/monitoring/alerts.yaml",
        "k8s/monitoring/alerts.test.yaml",
        "k8s/monitoring/prometheusrule.yaml",
        "helm/herald/files/grafana-dashboard.json",
        "helm/herald/files/alerts.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
        let used = metric_names_in(&text);
        assert!(used.len() >= 5, "{file} queries only {used:?}");
        unknown.extend(
            used.into_iter()
                .filter(|name| !documented.contains(name.as_str()))
                .map(|name| format!("{file}: {name}")),
        );
    }
    assert!(unknown.is_empty(), "metrics not in the catalogue: {unknown:#?}");
    assert_eq!(
        metric_names_in(
            "rate(herald_append_seconds_bucket[5m]) xherald_no herald_ HERALD_PARTITIONS herald_bogus_count"
        ),
        BTreeSet::from(["herald_append_seconds".to_owned(), "herald_bogus_count".to_owned()]),
        "the tokenizer folds histogram series and skips non-tokens"
    );
}
