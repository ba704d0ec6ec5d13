//! `SocialStore` on SQLite: friend requests and friendships (both directions in one transaction).

use super::rows;
use super::{SqliteStore, map_err};
use crate::{FriendRequest, SocialStore, StoreError};
use async_trait::async_trait;
use herald_protocol::{AppId, SessionId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl SocialStore for SqliteStore {
    async fn put_friend_request(&self, request: &FriendRequest) -> Result<(), StoreError> {
        let r = request.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO friend_requests (app_id, from_session, to_session, information, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (app_id, from_session, to_session) DO UPDATE SET information = excluded.information, created_at = excluded.created_at",
                params![r.app.as_str(), r.from.as_str(), r.to.as_str(), r.information, r.created_at],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn take_friend_request(
        &self,
        app: &AppId,
        from: &SessionId,
        to: &SessionId,
    ) -> Result<Option<FriendRequest>, StoreError> {
        let (app, from, to) = (app.clone(), from.clone(), to.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let found = tx
                .query_row(
                    "SELECT information, created_at FROM friend_requests WHERE app_id = ?1 AND from_session = ?2 AND to_session = ?3",
                    [app.as_str(), from.as_str(), to.as_str()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()
                .map_err(map_err)?;
            tx.execute(
                "DELETE FROM friend_requests WHERE app_id = ?1 AND from_session = ?2 AND to_session = ?3",
                [app.as_str(), from.as_str(), to.as_str()],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(found.map(|(information, created_at)| FriendRequest { app, from, to, information, created_at }))
        })
        .await
    }

    async fn friend_requests_to(
        &self,
        app: &AppId,
        to: &SessionId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<FriendRequest>, StoreError> {
        let (app, to) = (app.clone(), to.clone());
        let after = after.map(|s| s.as_str().to_owned()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(
                "SELECT from_session, information, created_at FROM friend_requests \
                 WHERE app_id = ?1 AND to_session = ?2 AND from_session > ?3 ORDER BY from_session LIMIT ?4",
            )?
            .query_map(params![app.as_str(), to.as_str(), after, limit], |r| {
                Ok(FriendRequest {
                    app: app.clone(),
                    from: rows::session(r, 0)?,
                    to: to.clone(),
                    information: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn set_friends(
        &self,
        app: &AppId,
        a: &SessionId,
        b: &SessionId,
        friends: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        let (app, a, b) = (app.clone(), a.clone(), b.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            for (one, other) in [(&a, &b), (&b, &a)] {
                if friends {
                    tx.execute(
                        "INSERT INTO friends (app_id, session, friend, since) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                        params![app.as_str(), one.as_str(), other.as_str(), at],
                    )
                } else {
                    tx.execute(
                        "DELETE FROM friends WHERE app_id = ?1 AND session = ?2 AND friend = ?3",
                        params![app.as_str(), one.as_str(), other.as_str()],
                    )
                }
                .map_err(map_err)?;
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn friends_of(&self, app: &AppId, session: &SessionId) -> Result<Vec<SessionId>, StoreError> {
        let (app, session) = (app.clone(), session.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT friend FROM friends WHERE app_id = ?1 AND session = ?2 ORDER BY friend")?
                .query_map([app.as_str(), session.as_str()], |r| rows::session(r, 0))?
                .collect()
        })
        .await
    }

    async fn are_friends(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<bool, StoreError> {
        let (app, a, b) = (app.clone(), a.clone(), b.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM friends WHERE app_id = ?1 AND session = ?2 AND friend = ?3)")?
                .query_row([app.as_str(), a.as_str(), b.as_str()], |r| r.get(0))
        })
        .await
    }
}
