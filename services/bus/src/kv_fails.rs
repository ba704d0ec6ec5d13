//! A bus for tests whose KV operations fail on demand.

use crate::{Bucket, Bus, BusError};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A bus whose KV operations on the keys `matches` picks fail while `failing` is set (a KV
/// hiccup); everything else is the in-process bus.
pub(crate) struct KvFails {
    inner: crate::inproc::InprocBus,
    pub failing: AtomicBool,
    /// Operations refused so far.
    pub refused: AtomicUsize,
    matches: fn(Bucket, &str) -> bool,
}

impl KvFails {
    pub fn new(inner: crate::inproc::InprocBus, matches: fn(Bucket, &str) -> bool) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
            matches,
        }
    }

    fn check(&self, bucket: Bucket, key: &str) -> Result<(), BusError> {
        if (self.matches)(bucket, key) && self.failing.load(Ordering::Acquire) {
            self.refused.fetch_add(1, Ordering::AcqRel);
            return Err(BusError::Unavailable("injected: bucket unavailable".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Bus for KvFails {
    fn partitions(&self) -> u32 {
        self.inner.partitions()
    }
    fn scope(&self) -> &str {
        self.inner.scope()
    }
    async fn publish(&self, log: crate::Log, batch: Vec<crate::Outgoing>) -> Vec<Result<crate::Published, BusError>> {
        self.inner.publish(log, batch).await
    }
    async fn read(&self, log: crate::Log, partition: u32, after: u64) -> Result<crate::LogReader, BusError> {
        self.inner.read(log, partition, after).await
    }
    async fn send_to_gateway(
        &self,
        gateway: &herald_protocol::GatewayId,
        payload: crate::Payload,
    ) -> Result<(), BusError> {
        self.inner.send_to_gateway(gateway, payload).await
    }
    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }
    async fn gateway_inbox(
        &self,
        gateway: &herald_protocol::GatewayId,
    ) -> Result<tokio::sync::mpsc::Receiver<crate::Payload>, BusError> {
        self.inner.gateway_inbox(gateway).await
    }
    async fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<crate::Versioned>, BusError> {
        self.check(bucket, key)?;
        self.inner.kv_get(bucket, key).await
    }
    async fn kv_create(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
        self.check(bucket, key)?;
        self.inner.kv_create(bucket, key, value).await
    }
    async fn kv_update(&self, bucket: Bucket, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
        self.check(bucket, key)?;
        self.inner.kv_update(bucket, key, value, revision).await
    }
    async fn kv_put(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.check(bucket, key)?;
        self.inner.kv_put(bucket, key, value).await
    }
    async fn kv_scan(&self, bucket: Bucket, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
        self.check(bucket, prefix)?;
        self.inner.kv_scan(bucket, prefix).await
    }
    async fn route_add(
        &self,
        app: &herald_protocol::AppId,
        session: &herald_protocol::SessionId,
        gateway: &herald_protocol::GatewayId,
    ) -> Result<(), BusError> {
        self.inner.route_add(app, session, gateway).await
    }
    async fn route_remove(
        &self,
        app: &herald_protocol::AppId,
        session: &herald_protocol::SessionId,
        gateway: &herald_protocol::GatewayId,
    ) -> Result<(), BusError> {
        self.inner.route_remove(app, session, gateway).await
    }
    async fn route_table(&self) -> Result<Arc<crate::RouteTable>, BusError> {
        self.inner.route_table().await
    }
    async fn room_publish(&self, app: &herald_protocol::AppId, room: &str, payload: Bytes) -> Result<(), BusError> {
        self.inner.room_publish(app, room, payload).await
    }
    async fn room_subscribe(&self, app: &herald_protocol::AppId, room: &str) -> Result<crate::Subscription, BusError> {
        self.inner.room_subscribe(app, room).await
    }
    fn is_connected(&self) -> bool {
        true
    }
}
