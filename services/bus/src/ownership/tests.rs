use super::*;

#[test]
fn fair_share_covers_every_partition() {
    assert_eq!(fair_share(16, 1), 16);
    assert_eq!(fair_share(16, 2), 8);
    assert_eq!(fair_share(16, 3), 6);
    assert_eq!(fair_share(16, 0), 16);
    for members in 1..20 {
        assert!(fair_share(16, members) * members >= 16);
    }
}

/// A bus whose membership writes and scans fail on demand (a KV hiccup on the member keys);
/// everything else is the in-process bus.
struct MembershipFails {
    inner: crate::inproc::InprocBus,
    failing: std::sync::atomic::AtomicBool,
}

impl MembershipFails {
    fn check(&self, key: &str) -> Result<(), BusError> {
        if key.starts_with("member.") && self.failing.load(Ordering::Acquire) {
            return Err(BusError::Unavailable("injected: membership bucket unavailable".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Bus for MembershipFails {
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
        self.inner.kv_get(bucket, key).await
    }
    async fn kv_create(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
        self.inner.kv_create(bucket, key, value).await
    }
    async fn kv_update(&self, bucket: Bucket, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
        self.inner.kv_update(bucket, key, value, revision).await
    }
    async fn kv_put(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.check(key)?;
        self.inner.kv_put(bucket, key, value).await
    }
    async fn kv_scan(&self, bucket: Bucket, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
        self.check(prefix)?;
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

/// Issue 11 item 6: a failing membership write or scan must not stop lease renewal, or a
/// short KV hiccup would move every partition. For many TTLs of failing bookkeeping, the
/// owner's grants stay valid and are never cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_while_membership_bookkeeping_fails() {
    let bus = Arc::new(MembershipFails {
        inner: crate::inproc::InprocBus::new(2),
        failing: std::sync::atomic::AtomicBool::new(false),
    });
    let config = OwnershipConfig {
        role: "test",
        instance: "only".into(),
        lease_ttl: Duration::from_millis(600),
        partitions: 2,
    };
    let grants: Arc<std::sync::Mutex<Vec<Grant>>> = Arc::default();
    let record = grants.clone();
    let shutdown = CancellationToken::new();
    let owner = tokio::spawn(run(bus.clone(), config, shutdown.clone(), move |grant| {
        record.lock().unwrap().push(grant.clone());
        async move { grant.cancel.cancelled().await }
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while grants.lock().unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both partitions granted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bus.failing.store(true, Ordering::Release);
    // sampled over ten TTLs: a lapse of any length shows as an invalid or cancelled grant
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    while tokio::time::Instant::now() < until {
        for grant in grants.lock().unwrap().iter() {
            assert!(
                !grant.cancel.is_cancelled() && grant.is_valid(),
                "partition {} lapsed while only the membership bookkeeping failed",
                grant.partition
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(grants.lock().unwrap().len(), 2, "no partition was granted again");
    shutdown.cancel();
    owner.await.unwrap();
}
