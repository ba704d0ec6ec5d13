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

/// Issue 11 item 6: a failing membership write or scan must not stop lease renewal, or a
/// short KV hiccup would move every partition. For many TTLs of failing bookkeeping, the
/// owner's grants stay valid and are never cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_while_membership_bookkeeping_fails() {
    let bus = Arc::new(crate::kv_fails::KvFails::new(
        crate::inproc::InprocBus::new(2),
        |_, key| key.starts_with("member."),
    ));
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
