//! Apps: created once (`IF NOT EXISTS`), changed only by lightweight transactions, found by id,
//! by secret hash and by org through lookup tables that reads verify against the app row.

use super::rows::{self, AppRow};
use super::store::ScyllaStore;
use crate::{AppRecord, AppSettings, StoreError};
use herald_protocol::AppId;

impl ScyllaStore {
    pub(super) async fn create_app(&self, app: &AppRecord) -> Result<bool, StoreError> {
        // lookup rows first: one whose app does not match is ignored on read, an app missing its
        // lookup row could not be found
        self.write(&self.st.secret_insert, (app.secret_hash.as_slice(), app.id.as_str()))
            .await?;
        self.write(&self.accounts.app_by_org_insert, (app.org.as_str(), app.id.as_str()))
            .await?;
        let outcome = self.lwt(&self.st.app_insert, rows::app_values(app)).await?;
        Ok(outcome.applied)
    }

    pub(super) async fn app_row(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let row: Option<AppRow> = self.first(&self.st.app_select, (id.as_str(),)).await?;
        row.map(rows::app).transpose()
    }

    pub(super) async fn app_by_hash(&self, hash: &[u8]) -> Result<Option<AppRecord>, StoreError> {
        let found: Option<(Option<String>,)> = self.first(&self.st.secret_select, (hash,)).await?;
        let Some((Some(id),)) = found else {
            return Ok(None);
        };
        let app = self.app_row(&rows::app_id(id)?).await?;
        // a rotated secret's old lookup row still points at the app: the app row decides
        Ok(app.filter(|app| app.secret_hash == hash))
    }

    pub(super) async fn rotate_secret(&self, id: &AppId, hash: &[u8]) -> Result<bool, StoreError> {
        let Some(app) = self.app_row(id).await? else {
            return Ok(false);
        };
        self.write(&self.st.secret_insert, (hash, id.as_str())).await?;
        let outcome = self.lwt(&self.st.app_set_secret, (hash, id.as_str())).await?;
        if outcome.applied && app.secret_hash != hash {
            self.write(&self.st.secret_delete, (app.secret_hash.as_slice(),))
                .await?;
        }
        Ok(outcome.applied)
    }

    pub(super) async fn update_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError> {
        let outcome = self
            .lwt(&self.st.app_set_settings, rows::settings_values(id, settings))
            .await?;
        Ok(outcome.applied)
    }

    /// The org's apps, oldest first.
    pub(super) async fn apps_of(&self, org: &str) -> Result<Vec<AppRecord>, StoreError> {
        let ids: Vec<(String,)> = self.rows(&self.accounts.apps_by_org_select, (org,)).await?;
        let ids = ids
            .into_iter()
            .map(|(id,)| rows::app_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let apps: Vec<Option<AppRecord>> = self.in_order(ids.iter().map(|id| self.app_row(id)).collect()).await?;
        let mut apps: Vec<AppRecord> = apps.into_iter().flatten().filter(|app| app.org == org).collect();
        apps.sort_by_key(|app| app.created_at);
        Ok(apps)
    }
}
