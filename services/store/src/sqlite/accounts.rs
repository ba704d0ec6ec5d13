//! `AccountStore` on SQLite: console users, orgs and their apps, server keys, end-user accounts,
//! and the revocation feed (its cursor a sequence assigned in commit order).

use super::rows::{self, APP_COLUMNS, ORG_COLUMNS};
use super::{SqliteStore, map_err};
use crate::{Account, AccountStore, AppRecord, ConsoleUser, Org, Revocation, RevocationFeed, StoreError};
use async_trait::async_trait;
use herald_protocol::{AppId, SessionId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_console_user(&self, user: &ConsoleUser) -> Result<bool, StoreError> {
        let user = user.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO console_users (user_id, email, password_hash, nick, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT DO NOTHING",
                params![user.id, user.email, user.password_hash, user.nick, user.created_at],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn console_user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
        let email = email.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, email, password_hash, nick, created_at FROM console_users WHERE email = ?1",
            )?
            .query_row([email], |r| {
                Ok(ConsoleUser {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    password_hash: r.get(2)?,
                    nick: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn create_org(&self, org: &Org) -> Result<(), StoreError> {
        let org = org.clone();
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            tx.execute(
                &format!("INSERT INTO orgs ({ORG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"),
                params![org.id, org.name, org.description, org.owner, org.created_at],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO org_members (org_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![org.id, org.owner],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn org(&self, id: &str) -> Result<Option<Org>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE org_id = ?1"))?
                .query_row([id], rows::org)
                .optional()
        })
        .await
    }

    async fn orgs_of(&self, user_id: &str) -> Result<Vec<Org>, StoreError> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let columns = rows::qualified(ORG_COLUMNS, "o");
            c.prepare_cached(&format!(
                "SELECT {columns} FROM org_members m JOIN orgs o ON o.org_id = m.org_id WHERE m.user_id = ?1 ORDER BY o.created_at"
            ))?
            .query_map([user_id], rows::org)?
            .collect()
        })
        .await
    }

    async fn is_org_member(&self, org: &str, user_id: &str) -> Result<bool, StoreError> {
        let (org, user_id) = (org.to_owned(), user_id.to_owned());
        self.read(move |c| {
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2)")?
                .query_row([org, user_id], |r| r.get(0))
        })
        .await
    }

    async fn apps_of_org(&self, org: &str) -> Result<Vec<AppRecord>, StoreError> {
        let org = org.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {APP_COLUMNS} FROM apps WHERE org_id = ?1 ORDER BY created_at"
            ))?
            .query_map([org], rows::app)?
            .collect()
        })
        .await
    }

    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, fresh) = (name.to_owned(), fresh.to_vec());
        self.write(move |c| {
            c.execute(
                "INSERT INTO server_keys (name, key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, fresh],
            )
            .map_err(map_err)?;
            c.query_row("SELECT key FROM server_keys WHERE name = ?1", [name], |r| r.get(0))
                .map_err(map_err)
        })
        .await
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let account = account.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (app_id, user_name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![account.app.as_str(), account.user_name.as_str(), account.password_hash, account.created_at],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn account(&self, app: &AppId, user_name: &SessionId) -> Result<Option<Account>, StoreError> {
        let (app, user_name) = (app.clone(), user_name.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT password_hash, created_at FROM accounts WHERE app_id = ?1 AND user_name = ?2")?
                .query_row([app.as_str(), user_name.as_str()], |r| {
                    Ok(Account {
                        app: app.clone(),
                        user_name: user_name.clone(),
                        password_hash: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn set_account_password(&self, app: &AppId, user_name: &SessionId, hash: &str) -> Result<bool, StoreError> {
        let (app, user_name, hash) = (app.clone(), user_name.clone(), hash.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE accounts SET password_hash = ?3 WHERE app_id = ?1 AND user_name = ?2",
                params![app.as_str(), user_name.as_str(), hash],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let r = revocation.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO revocations (app_id, kind, key, not_before, expires_at, created_at, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations)) \
                 ON CONFLICT (app_id, kind, key) DO UPDATE SET not_before = MAX(not_before, excluded.not_before), \
                 expires_at = MAX(expires_at, excluded.expires_at), created_at = excluded.created_at, seq = excluded.seq",
                params![r.app.as_str(), r.kind.as_str(), r.key, r.not_before, r.expires_at, r.created_at],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn revocations_since(&self, cursor: i64, now_secs: i64) -> Result<RevocationFeed, StoreError> {
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let revocations = tx
                .prepare_cached(
                    "SELECT app_id, kind, key, not_before, expires_at, created_at FROM revocations \
                     WHERE seq > ?1 AND expires_at > ?2 ORDER BY seq",
                )?
                .query_map(params![cursor, now_secs], rows::revocation)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // the same snapshot: nothing committed after the rows above is skipped
            let cursor = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM revocations", [], |r| r.get(0))?;
            tx.finish()?;
            Ok(RevocationFeed { revocations, cursor })
        })
        .await
    }
}
