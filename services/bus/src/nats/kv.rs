//! Key-value helpers over JetStream KV: compare-and-set, scans and the routing-table replica.

use crate::{BusError, RouteKey, RouteTable, Versioned};
use async_nats::jetstream::kv::{self, Operation};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::StreamExt;
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;

pub async fn get(store: &kv::Store, key: &str) -> Result<Option<Versioned>, BusError> {
    let entry = store.entry(key).await.map_err(BusError::unavailable)?;
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

pub async fn scan(store: &kv::Store, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
    let keys: Vec<String> = match store.keys().await {
        Ok(keys) => keys.filter_map(|k| async move { k.ok() }).collect().await,
        Err(err) => return Err(BusError::unavailable(err)),
    };
    let mut found = Vec::new();
    for key in keys.into_iter().filter(|k| k.starts_with(prefix)) {
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

/// Loads the routing table and keeps it current from the bucket's watch.
pub async fn replicate_routes(store: kv::Store) -> Result<Arc<RouteTable>, BusError> {
    let mut watch = store.watch_with_history(">").await.map_err(BusError::unavailable)?;
    let table = Arc::new(RouteTable::default());
    let replica = table.clone();
    tokio::spawn(async move {
        while let Some(entry) = watch.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    tracing::warn!(error = %err, "routing table watch error");
                    continue;
                }
            };
            let Some((key, gateway)) = parse_route_key(&entry.key) else {
                continue;
            };
            match entry.operation {
                Operation::Put => replica.add(key, gateway),
                Operation::Delete | Operation::Purge => replica.remove(&key, &gateway),
            }
        }
        tracing::error!("routing table watch ended");
    });
    Ok(table)
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
