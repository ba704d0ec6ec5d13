//! Accounts, tenancy, friends and token revocation (`002_accounts.cql`): console users, orgs,
//! server keys, end-user accounts, friend requests and friendships, and the revocation feed.

use super::store::ScyllaStore;
use crate::{Account, ConsoleUser, FriendRequest, Org, Revocation, RevocationFeed, RevocationKind, StoreError};
use herald_protocol::{AppId, SessionId};

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;
const DAY_SECS: i64 = 86_400;
/// ScyllaDB's longest TTL (20 years).
const MAX_TTL_SECS: i64 = 630_720_000;
/// The one partition of `revocation_days`.
const FEED: &str = "all";

/// How far before its cursor a read of the revocation feed starts again. ScyllaDB has no global
/// sequence, so the feed is ordered by each writer's clock: an entry from a gateway whose clock
/// is behind (or one that took long to write) is still seen while it is within this window of
/// the newest entry seen. Gateways' clocks must agree within it (NTP keeps them within
/// milliseconds). Entries in the window are returned again; applying them twice is harmless.
pub const REVOCATION_OVERLAP_NANOS: i64 = 120 * 1_000_000_000;

/// Where a read after `cursor` starts (0 reads the whole feed).
pub fn reread_from(cursor: i64) -> i64 {
    if cursor <= 0 {
        i64::MIN
    } else {
        cursor.saturating_sub(REVOCATION_OVERLAP_NANOS)
    }
}

/// The UTC day (days since the Unix epoch) of a time in unix nanoseconds: the feed partition.
pub fn feed_day(unix_nanos: i64) -> i64 {
    unix_nanos.div_euclid(NANOS_PER_DAY)
}

/// How long to keep a revocation: a day past the last token it revokes, within ScyllaDB's bounds.
pub fn revocation_ttl(expires_at_secs: i64, now_secs: i64) -> i32 {
    let ttl = expires_at_secs.saturating_sub(now_secs).saturating_add(DAY_SECS);
    i32::try_from(ttl.clamp(DAY_SECS, MAX_TTL_SECS)).unwrap_or(i32::MAX)
}

/// A revocation over the one stored for its key: the later cutoff and expiry win (SQLite's
/// `MAX(...)` upsert), the new creation time is the feed position.
pub fn merge_revocation(new: &Revocation, stored: Option<(Option<i64>, Option<i64>)>) -> Revocation {
    let (not_before, expires_at) = stored.unwrap_or((None, None));
    Revocation {
        not_before: new.not_before.max(not_before.unwrap_or(i64::MIN)),
        expires_at: new.expires_at.max(expires_at.unwrap_or(i64::MIN)),
        ..new.clone()
    }
}

fn kind_of(text: &str) -> RevocationKind {
    match text {
        "session" => RevocationKind::Session,
        _ => RevocationKind::Token,
    }
}

fn now_secs() -> i64 {
    herald_protocol::timefmt::now_nanos() / 1_000_000_000
}

type OrgRow = (String, Option<String>, Option<String>, Option<String>, Option<i64>);

fn org(row: OrgRow) -> Org {
    let (id, name, description, owner, created_at) = row;
    Org {
        id,
        name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        owner: owner.unwrap_or_default(),
        created_at: created_at.unwrap_or_default(),
    }
}

impl ScyllaStore {
    pub(super) async fn new_console_user(&self, user: &ConsoleUser) -> Result<bool, StoreError> {
        let values = (
            user.email.as_str(),
            user.id.as_str(),
            user.password_hash.as_str(),
            user.nick.as_str(),
            user.created_at,
        );
        Ok(self.lwt(&self.accounts.console_user_insert, values).await?.applied)
    }

    pub(super) async fn console_user(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
        let row: Option<(String, String, String, String, i64)> =
            self.first(&self.accounts.console_user_select, (email,)).await?;
        Ok(row.map(|(id, email, password_hash, nick, created_at)| ConsoleUser {
            id,
            email,
            password_hash,
            nick,
            created_at,
        }))
    }

    pub(super) async fn new_org(&self, org: &Org) -> Result<(), StoreError> {
        let values = (
            org.id.as_str(),
            org.name.as_str(),
            org.description.as_str(),
            org.owner.as_str(),
            org.created_at,
        );
        self.lwt(&self.accounts.org_insert, values).await?;
        self.write(&self.accounts.org_member_insert, (org.id.as_str(), org.owner.as_str()))
            .await?;
        self.write(
            &self.accounts.org_membership_insert,
            (org.owner.as_str(), org.id.as_str()),
        )
        .await
    }

    pub(super) async fn org_row(&self, id: &str) -> Result<Option<Org>, StoreError> {
        let row: Option<OrgRow> = self.first(&self.accounts.org_select, (id,)).await?;
        Ok(row.map(org))
    }

    /// The user's orgs, oldest first.
    pub(super) async fn orgs_of_user(&self, user_id: &str) -> Result<Vec<Org>, StoreError> {
        let ids: Vec<(String,)> = self.rows(&self.accounts.orgs_of_user, (user_id,)).await?;
        let orgs: Vec<Option<Org>> = self
            .in_order(ids.iter().map(|(id,)| self.org_row(id)).collect())
            .await?;
        let mut orgs: Vec<Org> = orgs.into_iter().flatten().collect();
        orgs.sort_by_key(|org| org.created_at);
        Ok(orgs)
    }

    pub(super) async fn org_member(&self, org: &str, user_id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = self.first(&self.accounts.org_member_select, (org, user_id)).await?;
        Ok(row.is_some())
    }

    pub(super) async fn key_named(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let outcome = self.lwt(&self.accounts.server_key_insert, (name, fresh)).await?;
        if outcome.applied {
            return Ok(fresh.to_vec());
        }
        if let Some(stored) = outcome.blob("key") {
            return Ok(stored.to_vec());
        }
        let row: Option<(Vec<u8>,)> = self.first(&self.accounts.server_key_select, (name,)).await?;
        row.map(|(key,)| key)
            .ok_or_else(|| StoreError::Fatal(format!("server key {name} exists and has no value")))
    }

    pub(super) async fn new_account(&self, account: &Account) -> Result<bool, StoreError> {
        let values = (
            account.app.as_str(),
            account.user_name.as_str(),
            account.password_hash.as_str(),
            account.created_at,
        );
        Ok(self.lwt(&self.accounts.account_insert, values).await?.applied)
    }

    pub(super) async fn account_row(&self, app: &AppId, user_name: &SessionId) -> Result<Option<Account>, StoreError> {
        let row: Option<(String, i64)> = self
            .first(&self.accounts.account_select, (app.as_str(), user_name.as_str()))
            .await?;
        Ok(row.map(|(password_hash, created_at)| Account {
            app: app.clone(),
            user_name: user_name.clone(),
            password_hash,
            created_at,
        }))
    }

    pub(super) async fn account_password(
        &self,
        app: &AppId,
        user_name: &SessionId,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let values = (hash, app.as_str(), user_name.as_str());
        Ok(self.lwt(&self.accounts.account_set_password, values).await?.applied)
    }

    pub(super) async fn revoke_one(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let (app, kind, key) = (
            revocation.app.as_str(),
            revocation.kind.as_str(),
            revocation.key.as_str(),
        );
        let stored: Option<(Option<i64>, Option<i64>)> =
            self.first(&self.accounts.revocation_select, (app, kind, key)).await?;
        let merged = merge_revocation(revocation, stored);
        let ttl = revocation_ttl(merged.expires_at, now_secs());
        let day = feed_day(merged.created_at);
        // the day index first: a day listed with nothing in it costs one empty read
        let raise = (merged.expires_at, ttl, merged.expires_at, FEED, day);
        self.write(&self.accounts.day_raise, raise).await?;
        let feed = (
            day,
            merged.created_at,
            app,
            kind,
            key,
            merged.not_before,
            merged.expires_at,
            ttl,
        );
        self.write(&self.accounts.feed_insert, feed).await?;
        let row = (
            app,
            kind,
            key,
            merged.not_before,
            merged.expires_at,
            merged.created_at,
            ttl,
        );
        self.write(&self.accounts.revocation_upsert, row).await
    }

    /// The feed after `cursor` (a creation time), re-reading `REVOCATION_OVERLAP` before it: an
    /// entry written late, or by a process whose clock is behind, is still found while it is
    /// within the overlap. The next cursor is the newest creation time seen.
    pub(super) async fn revocations_after(&self, cursor: i64, now_secs: i64) -> Result<RevocationFeed, StoreError> {
        let since = reread_from(cursor);
        let days: Vec<(i64, Option<i64>)> = self.rows(&self.accounts.days_select, (FEED,)).await?;
        let first_day = feed_day(since);
        let mut found = Vec::new();
        let mut newest = cursor;
        for (day, max_expires_at) in days {
            if day < first_day || max_expires_at.unwrap_or(i64::MIN) <= now_secs {
                continue;
            }
            type FeedRow = (i64, String, String, String, i64, i64);
            let rows: Vec<FeedRow> = self.rows(&self.accounts.feed_select, (day, since)).await?;
            for (created_at, app, kind, key, not_before, expires_at) in rows {
                newest = newest.max(created_at);
                if expires_at > now_secs {
                    found.push(Revocation {
                        app: super::rows::app_id(app)?,
                        kind: kind_of(&kind),
                        key,
                        not_before,
                        expires_at,
                        created_at,
                    });
                }
            }
        }
        found.sort_by_key(|r| r.created_at);
        Ok(RevocationFeed {
            revocations: found,
            cursor: newest,
        })
    }

    pub(super) async fn put_request(&self, request: &FriendRequest) -> Result<(), StoreError> {
        let values = (
            request.app.as_str(),
            request.from.as_str(),
            request.to.as_str(),
            request.information.as_str(),
            request.created_at,
        );
        self.write(&self.accounts.request_upsert, values).await?;
        // the recipient's index, after the request: an entry never names a request not written
        let entry = (request.app.as_str(), request.to.as_str(), request.from.as_str());
        self.write(&self.accounts.request_to_insert, entry).await
    }

    /// The recipient's pending requests: its index read in sender order, each entry checked
    /// against its request (an entry left by a crash between a take and its cleanup is skipped).
    pub(super) async fn requests_to(
        &self,
        app: &AppId,
        to: &SessionId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<FriendRequest>, StoreError> {
        let after = after.map(SessionId::as_str).unwrap_or("");
        // room for entries left behind by a crash, which are skipped below
        let read = i32::try_from(limit.saturating_mul(2).saturating_add(1)).unwrap_or(i32::MAX);
        let entries: Vec<(String,)> = self
            .rows(
                &self.accounts.requests_to_select,
                (app.as_str(), to.as_str(), after, read),
            )
            .await?;
        let mut requests = Vec::new();
        for (from,) in entries {
            if requests.len() == limit {
                break;
            }
            let keys = (app.as_str(), from.as_str(), to.as_str());
            let row: Option<(Option<String>, Option<i64>)> = self.first(&self.accounts.request_select, keys).await?;
            if let Some((information, created_at)) = row {
                requests.push(FriendRequest {
                    app: app.clone(),
                    from: super::rows::session_id(from)?,
                    to: to.clone(),
                    information: information.unwrap_or_default(),
                    created_at: created_at.unwrap_or_default(),
                });
            }
        }
        Ok(requests)
    }

    /// Takes the request: a conditional delete, so of two racing takers exactly one gets it (the
    /// other sees `[applied] = false` and gets `None`, as on SQLite). The row is read first
    /// because Cassandra answers an applied conditional delete with `[applied]` alone; ScyllaDB
    /// also returns the row it deleted, which is preferred (a request re-sent between the read
    /// and the delete is what was taken).
    pub(super) async fn take_request(
        &self,
        app: &AppId,
        from: &SessionId,
        to: &SessionId,
    ) -> Result<Option<FriendRequest>, StoreError> {
        let keys = (app.as_str(), from.as_str(), to.as_str());
        let row: Option<(Option<String>, Option<i64>)> = self.first(&self.accounts.request_select, keys).await?;
        let Some((information, created_at)) = row else {
            return Ok(None);
        };
        let taken = self.lwt(&self.accounts.request_take, keys).await?;
        if !taken.applied {
            return Ok(None);
        }
        let entry = (app.as_str(), to.as_str(), from.as_str());
        self.write(&self.accounts.request_to_delete, entry).await?;
        Ok(Some(FriendRequest {
            app: app.clone(),
            from: from.clone(),
            to: to.clone(),
            information: taken
                .text("information")
                .map(str::to_owned)
                .or(information)
                .unwrap_or_default(),
            created_at: taken.bigint("created_at").or(created_at).unwrap_or_default(),
        }))
    }

    pub(super) async fn friendship(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<bool, StoreError> {
        let row: Option<(Option<bool>,)> = self
            .first(&self.accounts.friend_select, (app.as_str(), a.as_str(), b.as_str()))
            .await?;
        Ok(matches!(row, Some((Some(true),))))
    }

    pub(super) async fn make_friends(
        &self,
        app: &AppId,
        a: &SessionId,
        b: &SessionId,
        friends: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        for (one, other) in [(a, b), (b, a)] {
            // befriending keeps the date of a friendship that already holds
            if friends && self.friendship(app, one, other).await? {
                continue;
            }
            let values = (app.as_str(), one.as_str(), other.as_str(), at, friends);
            self.write(&self.accounts.friend_set, values).await?;
        }
        Ok(())
    }

    pub(super) async fn friends_list(&self, app: &AppId, session: &SessionId) -> Result<Vec<SessionId>, StoreError> {
        let rows: Vec<(String, Option<bool>)> = self
            .rows(&self.accounts.friends_select, (app.as_str(), session.as_str()))
            .await?;
        rows.into_iter()
            .filter(|(_, active)| *active == Some(true))
            .map(|(friend, _)| super::rows::session_id(friend))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(not_before: i64, expires_at: i64, created_at: i64) -> Revocation {
        Revocation {
            app: AppId::parse("app").unwrap(),
            kind: RevocationKind::Session,
            key: "zoe".into(),
            not_before,
            expires_at,
            created_at,
        }
    }

    #[test]
    fn a_feed_read_starts_an_overlap_before_its_cursor() {
        assert_eq!(reread_from(0), i64::MIN, "the first read reads everything");
        let cursor = 1_700_000_000_000_000_000;
        assert_eq!(reread_from(cursor), cursor - REVOCATION_OVERLAP_NANOS);
        let slow_clock = cursor - 30 * 1_000_000_000;
        assert!(slow_clock > reread_from(cursor), "an entry 30 s behind is read again");
    }

    #[test]
    fn feed_days_are_utc_days() {
        assert_eq!(feed_day(0), 0);
        assert_eq!(feed_day(NANOS_PER_DAY - 1), 0);
        assert_eq!(feed_day(NANOS_PER_DAY), 1);
        assert_eq!(feed_day(-1), -1);
        assert_eq!(feed_day(1_700_000_000_000_000_000), 19_675);
    }

    #[test]
    fn ttls_stay_within_scylla_bounds() {
        assert_eq!(revocation_ttl(1_000 + 3_600, 1_000), 3_600 + 86_400);
        assert_eq!(revocation_ttl(10, 1_000), 86_400, "already expired: kept a day");
        assert_eq!(revocation_ttl(4_000_000_000, 1_000), 630_720_000, "capped at 20 years");
    }

    #[test]
    fn a_later_revocation_never_lowers_the_cutoff() {
        let merged = merge_revocation(&revocation(100, 50, 7), Some((Some(200), Some(80))));
        assert_eq!((merged.not_before, merged.expires_at, merged.created_at), (200, 80, 7));
        let first = merge_revocation(&revocation(100, 50, 7), None);
        assert_eq!(first, revocation(100, 50, 7));
        assert_eq!(kind_of("session"), RevocationKind::Session);
        assert_eq!(kind_of("token"), RevocationKind::Token);
    }
}
