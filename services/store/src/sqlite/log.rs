//! `LogStore` on SQLite: fence claims, batches handed to the writer's group commit
//! (`group_commit.rs`), the head of a conversation, and the lookups the sequencer plans with.

use super::apply::raise_fence;
use super::rows::{self, CONV_KEY, MESSAGE_COLUMNS};
use super::{SqliteStore, group_commit, idempotency, map_err, threads};
use crate::{Change, Fence, IdempotentLookup, LogStore, StoreError};
use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl LogStore for SqliteStore {
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        let fence = fence.clone();
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            raise_fence(&tx, &fence)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn apply(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job = group_commit::Job {
            fence: fence.clone(),
            changes: changes.to_vec(),
            done,
        };
        self.threads
            .writer
            .send(threads::WriterJob::Apply(job))
            .await
            .map_err(|_| threads::stopped())?;
        result.await.map_err(|_| threads::stopped())?
    }

    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE ck = {CONV_KEY}"
            ))?
            .query_row([app.as_str(), conv.as_str()], |r| r.get::<_, i64>(0))
            .map(|s| s as u64)
        })
        .await
    }

    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, herald_protocol::Text)],
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let lookup = IdempotentLookup {
            app: app.clone(),
            conv: conv.clone(),
            keys: keys.to_vec(),
        };
        self.find_idempotent_in(vec![lookup]).await
    }

    async fn find_idempotent_in(&self, lookups: Vec<IdempotentLookup>) -> Result<Vec<MessageRecord>, StoreError> {
        if lookups.iter().all(|lookup| lookup.keys.is_empty()) {
            return Ok(Vec::new());
        }
        let hashes: Vec<i64> = lookups
            .iter()
            .flat_map(|l| {
                l.keys
                    .iter()
                    .map(|(sender, key)| idempotency::hash(l.app.as_str(), l.conv.as_str(), sender.as_str(), key))
            })
            .collect();
        // the common case, every key new, answered from memory without a trip to a reader
        if self.recent.surely_new(&hashes) {
            return Ok(Vec::new());
        }
        let recent = self.recent.clone();
        self.read(move |c| {
            let keys: Vec<(&IdempotentLookup, &SessionId, &herald_protocol::Text)> = lookups
                .iter()
                .flat_map(|lookup| lookup.keys.iter().map(move |(sender, key)| (lookup, sender, key)))
                .collect();
            let candidates = recent.candidates(c, &hashes)?;
            let mut found = Vec::new();
            for ((lookup, sender, key), ids) in keys.iter().zip(candidates) {
                // a candidate shares the hash; the message's own fields decide
                for id in ids {
                    let fields = (lookup.app.as_str(), lookup.conv.as_str(), sender.as_str(), key.as_str());
                    if let Some(record) = idempotency::confirm(c, id, fields)? {
                        found.push(record);
                        break;
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    async fn message_by_id(&self, app: &AppId, conv: &ConvId, id: MsgId) -> Result<Option<MessageRecord>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages INDEXED BY messages_by_msg_id WHERE msg_id = ?3 AND app_id = ?1 AND conv_id = ?2"
            ))?
            .query_row(params![app.as_str(), conv.as_str(), id.0 as i64], rows::message)
            .optional()
        })
        .await
    }

    async fn read_cursor(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<u64, StoreError> {
        let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT seq FROM read_cursors WHERE app_id = ?1 AND conv_id = ?2 AND session = ?3")?
                .query_row([app.as_str(), conv.as_str(), session.as_str()], |r| r.get::<_, i64>(0))
                .optional()
                .map(|s| s.unwrap_or(0) as u64)
        })
        .await
    }

    async fn sender_counts(&self, app: &AppId, conv: &ConvId) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT session, sent FROM read_cursors WHERE app_id = ?1 AND conv_id = ?2 AND sent > 0")?
                .query_map([app.as_str(), conv.as_str()], |r| {
                    Ok((rows::session(r, 0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect()
        })
        .await
    }
}
