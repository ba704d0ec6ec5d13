//! The `QueryStore` part of the suite: the conversation list (read cursors, unread counts,
//! hiding, pages) and messages hidden for one session.

use super::{app_id, conv, fence, messages, record, session};
use crate::{Change, ListCursor, Store};
use herald_protocol::{ConvId, ConvKind};

/// Runs this part's checks; panics with the failing promise's name.
pub async fn run(store: &dyn Store, run: &str) {
    read_cursors_and_lists(store, run).await;
    list_pages(store, run).await;
    hiding_messages(store, run).await;
}

async fn read_cursors_and_lists(store: &dyn Store, run: &str) {
    let app = app_id(run, "lists");
    let a = conv(&app, "a", ConvKind::Group, "alice");
    let b = conv(&app, "b", ConvKind::Group, "alice");
    store
        .create_conversation(&a, &[session("alice"), session("bob")])
        .await
        .unwrap();
    store.create_conversation(&b, &[session("alice")]).await.unwrap();
    let f = fence(run, "lists", 1);
    let batch: Vec<_> = (1..=5).map(|s| record(&app, &a.id, s, "bob")).collect();
    store.apply(&f, &messages(&batch)).await.unwrap();
    let cursor = |seq| Change::ReadCursor {
        app: app.clone(),
        conv: a.id.clone(),
        session: session("alice"),
        seq,
    };
    store.apply(&f, &[cursor(3), cursor(2)]).await.unwrap();
    assert_eq!(
        store.read_cursor(&app, &a.id, &session("alice")).await.unwrap(),
        3,
        "cursor: never goes back"
    );
    assert_eq!(
        store.read_cursor(&app, &a.id, &session("bob")).await.unwrap(),
        0,
        "cursor: default 0"
    );
    let list = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "list: every conversation of the session");
    let of_a = list.iter().find(|s| s.conv.id == a.id).unwrap();
    assert_eq!(of_a.last.as_ref().map(|m| m.seq), Some(5), "list: last message");
    assert_eq!(
        (of_a.read_seq, of_a.unread(), of_a.member_count),
        (3, 2, 2),
        "list: unread and members"
    );
    let of_b = list.iter().find(|s| s.conv.id == b.id).unwrap();
    assert_eq!(
        (of_b.last.clone(), of_b.unread()),
        (None, 0),
        "list: empty conversation"
    );
    store
        .hide_conversation(&app, &session("alice"), &a.id, 5)
        .await
        .unwrap();
    let hidden = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert!(
        hidden.iter().find(|s| s.conv.id == a.id).unwrap().is_hidden(),
        "list: hidden after delete"
    );
    store
        .apply(&f, &messages(&[record(&app, &a.id, 6, "bob")]))
        .await
        .unwrap();
    let back = store
        .conversations_of(&app, &session("alice"), None, 100)
        .await
        .unwrap();
    assert!(
        !back.iter().find(|s| s.conv.id == a.id).unwrap().is_hidden(),
        "list: back after a new message"
    );
    assert!(
        store
            .conversations_of(&app_id(run, "other"), &session("alice"), None, 100)
            .await
            .unwrap()
            .is_empty(),
        "list: scoped to app"
    );
}

/// A long list comes in pages: newest membership first, ties by id, each entry exactly once.
async fn list_pages(store: &dyn Store, run: &str) {
    let app = app_id(run, "pages");
    let mut expected = Vec::new();
    for i in 0..7 {
        let mut group = conv(&app, &format!("p{i}"), ConvKind::Group, "alice");
        // two share each joined_at: the id breaks the tie
        group.created_at = 100 + i / 2;
        store.create_conversation(&group, &[session("alice")]).await.unwrap();
        expected.push((group.created_at, group.id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<ConvId> = expected.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut after: Option<ListCursor> = None;
    loop {
        let page = store
            .conversations_of(&app, &session("alice"), after.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "pages: at most the limit");
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        seen.extend(page.iter().map(|s| s.conv.id.clone()));
    }
    assert_eq!(seen, expected, "pages: every conversation once, in list order");
    assert_eq!(
        store.conversations_of(&app, &session("alice"), None, 0).await.unwrap(),
        Vec::new(),
        "pages: limit 0"
    );
}

/// A message deleted for one session is hidden from that session only, and only in the range asked.
async fn hiding_messages(store: &dyn Store, run: &str) {
    let app = app_id(run, "hiding");
    let conv_id = ConvId::parse("c").unwrap();
    store.hide_message(&app, &session("bob"), &conv_id, 2).await.unwrap();
    store.hide_message(&app, &session("bob"), &conv_id, 2).await.unwrap();
    store.hide_message(&app, &session("bob"), &conv_id, 4).await.unwrap();
    let mut hidden = store.hidden_seqs(&app, &session("bob"), &conv_id, 1, 3).await.unwrap();
    hidden.sort();
    assert_eq!(hidden, vec![2], "hidden: per session, in range");
    assert!(
        store
            .hidden_seqs(&app, &session("alice"), &conv_id, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "hidden: others see all"
    );
    // a member's range carries the hidden Seqs among the messages it returns, not beyond them
    let fence = fence(run, "hiding", 1);
    let stored: Vec<Change> = (1..=3)
        .map(|seq| Change::Message(record(&app, &conv_id, seq, "alice")))
        .collect();
    store.apply(&fence, &stored).await.unwrap();
    let (records, hidden) = store
        .member_range(&app, &session("bob"), &conv_id, (1, 10), 10)
        .await
        .unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(hidden, vec![2], "member_range: the hidden Seqs among the page only");
    let (records, hidden) = store
        .member_range(&app, &session("alice"), &conv_id, (2, 3), 10)
        .await
        .unwrap();
    assert_eq!((records.len(), hidden), (2, Vec::new()), "member_range: per session");
}
