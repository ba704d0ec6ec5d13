//! Key-value helpers over JetStream KV: compare-and-set, scans and the routing-table replica.

use crate::{BusError, RouteKey, RouteTable, Versioned};
use async_nats::jetstream::kv::{self, Operation};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;

/// How long a point read may take before its caller retries. A read is a direct get, answered
/// by any current replica; one routed to a server that hangs (until its peers drop its routes,
/// 4 - 6 s with the reference pings) is never answered, and a retry after 2 s likely reaches a
/// live replica where the 5 s JetStream timeout would hold a partition loop twice as long.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn get(store: &kv::Store, key: &str) -> Result<Option<Versioned>, BusError> {
    let entry = tokio::time::timeout(READ_TIMEOUT, store.entry(key))
        .await
        .map_err(|_| BusError::unavailable(format!("KV read timed out after {READ_TIMEOUT:?}")))?
        .map_err(BusError::unavailable)?;
    Ok(entry.filter(|e| e.operation == Operation::Put).map(|e| Versioned {
        value: e.value,
        revision: e.revision,
    }))
}

pub async fn create(store: &kv::Store, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
    match store.create(key, value).await {
        Ok(revision) => Ok(Some(revision)),
        Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
        Err(err) => Err(BusError::unavailable(err)),
    }
}

pub async fn update(store: &kv::Store, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
    match store.update(key, value, revision).await {
        Ok(revision) => Ok(Some(revision)),
        Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
        Err(err) => Err(BusError::unavailable(err)),
    }
}

/// The live keys starting with `prefix` and their values. The keys come from the stream's
/// subject state, which its leader answers, not from a watch: a watch is an ephemeral consumer,
/// and scans run several times a second per process (membership, dead gateways), which churned
/// consumers through the meta leader and was refused ("maximum consumers limit reached")
/// while a server was in lame-duck mode. Deleted keys still have a subject; their point read
/// leaves them out.
pub async fn scan(store: &kv::Store, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
    // a prefix ending at a token boundary narrows the server's answer; any other is filtered here
    let filter = match prefix.ends_with('.') {
        true => format!("{}{prefix}>", store.prefix),
        false => format!("{}>", store.prefix),
    };
    let mut subjects = store
        .stream
        .info_with_subjects(filter)
        .await
        .map_err(BusError::unavailable)?;
    let mut keys = Vec::new();
    while let Some((subject, _)) = subjects.try_next().await.map_err(BusError::unavailable)? {
        if let Some(key) = subject.strip_prefix(store.prefix.as_str())
            && key.starts_with(prefix)
        {
            keys.push(key.to_owned());
        }
    }
    let mut found = Vec::new();
    for key in keys {
        if let Some(value) = get(store, &key).await? {
            found.push((key, value.value));
        }
    }
    Ok(found)
}

pub fn route_key(app: &AppId, session: &SessionId, gateway: &GatewayId) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(app.as_str()),
        URL_SAFE_NO_PAD.encode(session.as_str()),
        gateway
    )
}

fn parse_route_key(key: &str) -> Option<(RouteKey, GatewayId)> {
    let mut parts = key.splitn(3, '.');
    let decode = |part: &str| String::from_utf8(URL_SAFE_NO_PAD.decode(part).ok()?).ok();
    let app = AppId::parse(decode(parts.next()?)?).ok()?;
    let session = SessionId::parse(decode(parts.next()?)?).ok()?;
    let gateway = GatewayId::parse(parts.next()?).ok()?;
    Some((RouteKey { app, session }, gateway))
}

/// How often the replica checks that it is current (its last applied revision against the
/// bucket's last), and how many failed checks in a row make it restart its watch.
const ROUTES_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
const ROUTES_STALE_CHECKS: u32 = 2;

/// Loads the routing table and keeps it current from the bucket's watch. The watch is started
/// again whenever it ends, errs, or falls behind the bucket for two checks in a row; a new watch
/// replays the last value of every key (deletions included), so applying it over the table is
/// exact. `herald_route_table_age_seconds` is the time since the replica was last seen current.
pub async fn replicate_routes(store: kv::Store) -> Result<Arc<RouteTable>, BusError> {
    let watch = store.watch_with_history(">").await.map_err(BusError::unavailable)?;
    let table = Arc::new(RouteTable::default());
    tokio::spawn(keep_routes(store, table.clone(), watch));
    Ok(table)
}

async fn keep_routes(store: kv::Store, replica: Arc<RouteTable>, mut watch: kv::Watch) {
    let mut applied = 0u64;
    let mut confirmed = tokio::time::Instant::now();
    let mut stale_checks = 0u32;
    let mut check = tokio::time::interval(ROUTES_CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let restart = tokio::select! {
            entry = watch.next() => match entry {
                Some(Ok(entry)) => {
                    applied = applied.max(entry.revision);
                    if let Some((key, gateway)) = parse_route_key(&entry.key) {
                        match entry.operation {
                            Operation::Put => replica.add(key, gateway),
                            Operation::Delete | Operation::Purge => replica.remove(&key, &gateway),
                        }
                    }
                    false
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "routing table watch error; restarting the watch");
                    true
                }
                None => {
                    tracing::warn!("routing table watch ended; restarting it");
                    true
                }
            },
            _ = check.tick() => {
                match store.stream.get_info().await {
                    Ok(info) if info.state.last_sequence <= applied => {
                        confirmed = tokio::time::Instant::now();
                        stale_checks = 0;
                    }
                    Ok(info) => {
                        stale_checks += 1;
                        tracing::debug!(applied, last = info.state.last_sequence, "routing table replica behind");
                    }
                    Err(err) => tracing::warn!(error = %err, "routing table: could not read the bucket's state"),
                }
                metrics::gauge!("herald_route_table_age_seconds").set(confirmed.elapsed().as_secs_f64());
                if stale_checks >= ROUTES_STALE_CHECKS {
                    tracing::warn!(applied, "routing table replica fell behind its bucket; restarting the watch");
                    true
                } else {
                    false
                }
            }
        };
        if restart {
            stale_checks = 0;
            metrics::counter!("herald_route_watch_restarts_total").increment(1);
            watch = loop {
                match store.watch_with_history(">").await {
                    Ok(watch) => break watch,
                    Err(err) => {
                        tracing::warn!(error = %err, "routing table: could not start a watch; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_round_trip_any_session() {
        let app = AppId::parse("app.with dots").unwrap();
        let session = SessionId::parse("用户 / *>").unwrap();
        let gateway = GatewayId::parse("gw1").unwrap();
        let key = route_key(&app, &session, &gateway);
        assert!(
            key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{key}"
        );
        let (parsed, gw) = parse_route_key(&key).unwrap();
        assert_eq!((parsed.app, parsed.session, gw), (app, session, gateway));
    }
}
