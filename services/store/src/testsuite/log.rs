//! The `LogStore` part of the suite: fenced appends that never overwrite, replays, the head,
//! lookups by idempotency key and by id, and sender counts.

use super::{app_id, fence, messages, record, session};
use crate::{Change, Store, StoreError};
use herald_protocol::{ConvId, MsgId};

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    append_and_read(store, run).await;
    append_is_idempotent(store, run).await;
    append_never_overwrites(store, run).await;
    idempotency_lookup(store, run).await;
    fencing(store, run).await;
    lookups_by_id(store, run).await;
    sender_counts(store, run).await;
}

async fn append_and_read(store: &dyn Store, run: &str) {
    let app = app_id(run, "log");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "log", 1);
    store.claim_fence(&f).await.unwrap();
    assert_eq!(
        store.last_seq(&app, &conv_id).await.unwrap(),
        0,
        "log: empty conversation has seq 0"
    );
    let batch: Vec<_> = (1..=50).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    assert_eq!(store.last_seq(&app, &conv_id).await.unwrap(), 50, "log: last seq");
    let latest = store.latest_messages(&app, &conv_id, 30).await.unwrap();
    let seqs: Vec<u64> = latest.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (21..=50).rev().collect::<Vec<_>>(), "log: latest newest first");
    assert_eq!(latest[0], batch[49], "log: record round-trips");
    let range = store.messages_in_range(&app, &conv_id, 10, 20, 100).await.unwrap();
    assert_eq!(
        range.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (10..=20).collect::<Vec<_>>(),
        "log: range"
    );
    let capped = store.messages_in_range(&app, &conv_id, 1, 50, 5).await.unwrap();
    assert_eq!(capped.len(), 5, "log: range honours limit");
    let other = ConvId::parse("other").unwrap();
    assert!(
        store.latest_messages(&app, &other, 10).await.unwrap().is_empty(),
        "log: scoped to conversation"
    );
}

async fn append_is_idempotent(store: &dyn Store, run: &str) {
    let app = app_id(run, "idem");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "idem", 1);
    let batch: Vec<_> = (1..=10).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let all = store.messages_in_range(&app, &conv_id, 0, u64::MAX, 100).await.unwrap();
    assert_eq!(all.len(), 10, "append: a replayed batch does not duplicate");
    assert_eq!(all, batch, "append: replay leaves the same rows");
}

async fn append_never_overwrites(store: &dyn Store, run: &str) {
    let app = app_id(run, "occupied");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "occupied", 1);
    let original = record(&app, &conv_id, 1, "alice");
    store
        .apply(&f, &messages(std::slice::from_ref(&original)))
        .await
        .unwrap();
    let mut intruder = record(&app, &conv_id, 1, "mallory");
    intruder.msg_id = MsgId(original.msg_id.0 + 1);
    intruder.idempotency_key = "other".into();
    intruder.content = "overwritten".into();
    assert!(
        store
            .apply(&f, &messages(std::slice::from_ref(&intruder)))
            .await
            .is_err(),
        "append: a different message at an occupied seq is refused"
    );
    let mut wrong_tombstone = intruder.clone();
    wrong_tombstone.status = herald_protocol::msg::status::RECALLED;
    assert!(
        store.apply(&f, &[Change::Tombstone(wrong_tombstone)]).await.is_err(),
        "append: a tombstone names the message it replaces"
    );
    let mut stray = record(&app, &conv_id, 2, "alice");
    stray.status = herald_protocol::msg::status::RECALLED;
    assert!(
        store.apply(&f, &[Change::Tombstone(stray)]).await.is_err(),
        "append: a tombstone of no stored message is refused"
    );
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 0, u64::MAX, 10).await.unwrap(),
        vec![original.clone()],
        "append: the acknowledged message is untouched"
    );
    let mut tombstone = original.clone();
    tombstone.status = herald_protocol::msg::status::RECALLED;
    tombstone.content = Default::default();
    let batch = [Change::Tombstone(tombstone.clone())];
    store.apply(&f, &batch).await.unwrap();
    store.apply(&f, &batch).await.unwrap();
    store
        .apply(&f, &messages(std::slice::from_ref(&original)))
        .await
        .unwrap();
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 0, u64::MAX, 10).await.unwrap(),
        vec![tombstone],
        "recall: the tombstone replaces its message, and a replayed append does not undo it"
    );
}

async fn idempotency_lookup(store: &dyn Store, run: &str) {
    let app = app_id(run, "keys");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "keys", 1);
    let batch: Vec<_> = (1..=5).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let found = store
        .find_idempotent(
            &app,
            &conv_id,
            &[
                (session("alice"), "k2".into()),
                (session("alice"), "k9".into()),
                (session("bob"), "k3".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![batch[1].clone()],
        "idempotency: found by (sender, key) only"
    );
}

async fn fencing(store: &dyn Store, run: &str) {
    let app = app_id(run, "fence");
    let conv_id = ConvId::parse("c").unwrap();
    store.claim_fence(&fence(run, "fence", 5)).await.unwrap();
    let stale = store
        .apply(
            &fence(run, "fence", 4),
            &messages(&[record(&app, &conv_id, 1, "alice")]),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Fenced { .. })),
        "fence: a lower epoch cannot append"
    );
    store
        .apply(
            &fence(run, "fence", 5),
            &messages(&[record(&app, &conv_id, 1, "alice")]),
        )
        .await
        .unwrap();
    store.claim_fence(&fence(run, "fence", 6)).await.unwrap();
    let old = store
        .apply(
            &fence(run, "fence", 5),
            &messages(&[record(&app, &conv_id, 2, "alice")]),
        )
        .await;
    assert!(
        matches!(old, Err(StoreError::Fenced { .. })),
        "fence: the old owner is cut off after a claim"
    );
    assert!(
        matches!(
            store.claim_fence(&fence(run, "fence", 3)).await,
            Err(StoreError::Fenced { .. })
        ),
        "fence: claims never go backwards"
    );
    assert_eq!(
        store.last_seq(&app, &conv_id).await.unwrap(),
        1,
        "fence: refused appends wrote nothing"
    );
}

/// A message by its id, and a recalled one still at its `Seq`.
async fn lookups_by_id(store: &dyn Store, run: &str) {
    let app = app_id(run, "lookups");
    let conv_id = ConvId::parse("c").unwrap();
    let f = fence(run, "lookups", 1);
    let batch: Vec<_> = (1..=4).map(|s| record(&app, &conv_id, s, "alice")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    assert_eq!(
        store.message_by_id(&app, &conv_id, batch[2].msg_id).await.unwrap(),
        Some(batch[2].clone()),
        "by id"
    );
    assert_eq!(
        store.message_by_id(&app, &conv_id, MsgId(1)).await.unwrap(),
        None,
        "by id: unknown"
    );
    let mut recalled = batch[0].clone();
    recalled.status = herald_protocol::msg::status::RECALLED;
    recalled.content = Default::default();
    store.apply(&f, &[Change::Tombstone(recalled.clone())]).await.unwrap();
    assert_eq!(
        store.messages_in_range(&app, &conv_id, 1, 1, 1).await.unwrap(),
        vec![recalled],
        "recall: the tombstone keeps its seq"
    );
}

/// Per sender, how many messages of the conversation it sent.
async fn sender_counts(store: &dyn Store, run: &str) {
    let app = app_id(run, "senders");
    let conv_id = ConvId::parse("spam").unwrap();
    let f = fence(run, "senders", 1);
    let batch = vec![
        record(&app, &conv_id, 1, "ann"),
        record(&app, &conv_id, 2, "ann"),
        record(&app, &conv_id, 3, "ben"),
    ];
    store.apply(&f, &messages(&batch)).await.unwrap();
    let mut counts = store.sender_counts(&app, &conv_id).await.unwrap();
    counts.sort();
    assert_eq!(counts, vec![(session("ann"), 2), (session("ben"), 1)], "sender counts");
    // a replayed batch counts nothing twice; a later one adds to the counts
    store.apply(&f, &messages(&batch)).await.unwrap();
    store
        .apply(&f, &messages(&[record(&app, &conv_id, 4, "ann")]))
        .await
        .unwrap();
    let mut counts = store.sender_counts(&app, &conv_id).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![(session("ann"), 3), (session("ben"), 1)],
        "sender counts after a replay and a batch"
    );
}
