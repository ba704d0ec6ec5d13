use super::*;
use herald_bus::inproc::InprocBus;
use herald_store::sqlite::SqliteStore;
use tokio_util::sync::CancellationToken;

/// Invariant 2 with the old owner alive (paused, not killed): the new owner raises the fence
/// before it reads any conversation head, so the old one's next append is refused even
/// while the new owner has read and written nothing. Without that claim the stale append
/// would land after the new owner read the head it is about to sequence from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_fences_the_old_one_out_before_reading_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let bus: Arc<dyn Bus> = Arc::new(InprocBus::new(1));
    let stale = Fence {
        scope: format!("{}/{ROLE}/0", bus.scope()),
        epoch: 1,
    };
    // the old owner holds the partition and has written
    store.claim_fence(&stale).await.unwrap();
    store.apply(&stale, &[]).await.expect("the owner writes");

    // the lease moves on (epoch 2) while the old owner is paused; the log is empty, so the
    // new owner reads no head and writes nothing
    let cancel = CancellationToken::new();
    let grant = Grant::standalone(0, 2, cancel.clone());
    let serving = tokio::spawn(serve(
        store.clone(),
        bus.clone(),
        Arc::new(SequencerConfig::new("new-owner")),
        grant,
    ));
    // the old owner wakes and appends: refused, as soon as the new owner started
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.apply(&stale, &[]).await {
            Err(StoreError::Fenced { held, ours, .. }) => {
                assert_eq!((held, ours), (2, 1));
                break;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the stale owner can still append: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    cancel.cancel();
    serving.await.unwrap();
}

/// Invariant 5, the conversation cache: a partition keeps at most `max_cached_conversations`
/// states, clears them rather than grow, and re-reads what it needs from the store, so `Seq`
/// goes on from the stored head with no gap and no reuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_cache_is_bounded_cleared_and_re_read() {
    use herald_protocol::bus::SendCommand;
    use herald_protocol::{ConvKind, GatewayId};
    use herald_store::Conversation;

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let bus: Arc<dyn Bus> = Arc::new(InprocBus::new(1));
    let app = AppId::parse("a").unwrap();
    let sender = SessionId::parse("s").unwrap();
    let convs: Vec<ConvId> = (0..3).map(|i| ConvId::parse(format!("c{i}")).unwrap()).collect();
    for conv in &convs {
        let conversation = Conversation {
            app: app.clone(),
            id: conv.clone(),
            kind: ConvKind::Group,
            conv_type: 0,
            name: String::new(),
            avatar: String::new(),
            owner: sender.clone(),
            open: false,
            archived: false,
            created_at: 0,
        };
        store
            .create_conversation(&conversation, std::slice::from_ref(&sender))
            .await
            .unwrap();
    }
    let mut config = SequencerConfig::new("cache-test");
    config.max_cached_conversations = 2;
    let grant = Grant::standalone(0, 1, CancellationToken::new());
    let mut this = Partition::new(store.as_ref(), bus.as_ref(), &config, &grant);
    this.begin().await.unwrap();
    let mut reader = bus.read(Log::Commands, 0, 0).await.unwrap();
    let rounds = 4;
    for round in 0..rounds {
        for conv in &convs {
            let command = Command {
                app: app.clone(),
                conv: conv.clone(),
                reply_to: Some(ReplyTo {
                    gateway: GatewayId::parse("g").unwrap(),
                    request: round,
                }),
                action: Action::Send(SendCommand {
                    from: sender.clone(),
                    idempotency_key: format!("k{round}").into(),
                    client_msg_id: Some(format!("k{round}").into()),
                    msg_type: 1,
                    status: 0,
                    content: format!("{conv}:{round}").into(),
                }),
            };
            let published = bus
                .publish(
                    Log::Commands,
                    vec![Outgoing {
                        partition: 0,
                        dedupe_id: format!("{conv}:{round}"),
                        payload: Payload::value(command),
                        trace: None,
                        repeat: false,
                    }],
                )
                .await;
            assert!(matches!(published[..], [Ok(_)]), "{published:?}");
            let batch = reader.next_batch(16).await.unwrap();
            this.process(&reader, batch).await.unwrap();
            assert!(
                this.states.len() <= 2,
                "the cache holds {} conversations, over its bound of 2",
                this.states.len()
            );
        }
    }
    for conv in &convs {
        let seqs: Vec<u64> = store
            .latest_messages(&app, conv, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (1..=rounds).collect::<Vec<_>>(),
            "{conv}: gapless after every clear"
        );
    }
}

/// A replay may cut the log into other batches: an event's dedupe id stays the same.
#[test]
fn an_event_s_dedupe_id_does_not_depend_on_its_batch() {
    use herald_protocol::bus::{Event, EventBody};
    let event = |conv: &str| Event {
        app: AppId::parse("a").unwrap(),
        conv: ConvId::parse(conv).unwrap(),
        body: EventBody::Archived { archived: true },
    };
    let first = event_dedupe_ids(&[(1, event("x")), (2, event("y")), (2, event("y"))]);
    let replayed = event_dedupe_ids(&[(2, event("y")), (2, event("y"))]);
    assert_eq!(first[1..], replayed[..]);
    assert_ne!(replayed[0], replayed[1], "two events of one command stay apart");
}

/// The events a NATS log must compare on their own (it packs the others): a stored message's
/// event published again (the planner lists it in `reemits`), and a replayed command's other
/// events; a message this batch stores is new, even for a replayed command.
#[test]
fn replayed_and_republished_events_are_marked_repeats() {
    use herald_protocol::bus::{Event, EventBody};
    let (app, conv) = (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap());
    let record = herald_store::testsuite::record(&app, &conv, 1, "s");
    let event = |body| Event {
        app: app.clone(),
        conv: conv.clone(),
        body,
    };
    let repeats = Repeats {
        replay_through: 10,
        reemits: &[1],
    };
    let archived = event(EventBody::Archived { archived: true });
    assert!(repeats.may_be_logged(2, 10, &archived), "a replayed command's event");
    assert!(!repeats.may_be_logged(2, 11, &archived), "a fresh command's event");
    let message = event(EventBody::Message(record));
    assert!(
        !repeats.may_be_logged(0, 10, &message),
        "a message stored now, even by a replayed command"
    );
    assert!(
        repeats.may_be_logged(1, 11, &message),
        "a stored message's event published again"
    );
}
