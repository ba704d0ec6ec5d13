//! The store conformance suite: every backend runs it against a real instance
//! (`tests/conformance` for SQLite; ScyllaDB when `HERALD_TEST_SCYLLA` names a node).
//! Each run uses fresh app ids, so a shared instance is fine. One module per trait; a check may
//! use other parts to set up what it reads (a list needs conversations and messages).
//!
//! Compiled for this crate's tests and, with the `testsuite` feature, for the tests of crates
//! that enable it as a dev-dependency: never into a release build.

pub mod accounts;
pub mod directory;
pub mod log;
pub mod query;
pub mod social;
pub mod webhooks;

use crate::{Change, Conversation, Fence, Store};
use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, MsgId, SessionId};

/// Runs every part; panics with the failing promise's name.
pub async fn run(store: &dyn Store) {
    let run_id = format!("{:x}", herald_protocol::timefmt::now_nanos());
    directory::run(store, &run_id).await;
    log::run(store, &run_id).await;
    query::run(store, &run_id).await;
    accounts::run(store, &run_id).await;
    social::run(store, &run_id).await;
    webhooks::run(store, &run_id).await;
}

/// A message record for `seq`, with idempotency key `k<seq>`.
pub fn record(app: &AppId, conv: &ConvId, seq: u64, from: &str) -> MessageRecord {
    MessageRecord {
        app: app.clone(),
        conv: conv.clone(),
        seq,
        msg_id: MsgId(1_000_000 + seq),
        from: session(from),
        send_time: 1_700_000_000_000_000_000 + seq as i64,
        status: 0,
        msg_type: 1,
        content: format!("message {seq}").into(),
        idempotency_key: format!("k{seq}").into(),
        client_msg_id: Some(format!("k{seq}").into()),
    }
}

fn messages(records: &[MessageRecord]) -> Vec<Change> {
    records.iter().cloned().map(Change::Message).collect()
}

fn app_id(run: &str, name: &str) -> AppId {
    AppId::parse(format!("{name}-{run}")).unwrap()
}

fn session(name: &str) -> SessionId {
    SessionId::parse(name).unwrap()
}

fn conv(app: &AppId, id: &str, kind: ConvKind, owner: &str) -> Conversation {
    Conversation {
        app: app.clone(),
        id: ConvId::parse(id).unwrap(),
        kind,
        conv_type: 3,
        name: format!("name of {id}"),
        avatar: String::new(),
        owner: session(owner),
        open: true,
        archived: false,
        created_at: 1,
    }
}

fn fence(run: &str, name: &str, epoch: u64) -> Fence {
    Fence {
        scope: format!("{name}-{run}"),
        epoch,
    }
}
