//! The accounts handle: what the console, `/user/*` and the app-level `/inner/*` routes use
//! (console users, orgs and apps, end-user accounts, app settings, tokens and revocations).

use crate::app_settings;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::passwords::Hashing;
use crate::revocations::Revocations;
use crate::throttle::{self, Attempt, LoginThrottle};
use herald_store::{AccountStore, AppRecord, DirectoryStore};
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct Accounts {
    /// Console users, orgs, end-user accounts, revocations.
    pub store: Arc<dyn AccountStore>,
    /// Apps and their settings.
    pub directory: Arc<dyn DirectoryStore>,
    pub auth: Arc<Auth>,
    /// Argon2 runs under this bound.
    pub hashing: Arc<Hashing>,
    /// Failed logins per account and per client address.
    pub throttle: Arc<LoginThrottle>,
    pub revocations: Revocations,
    /// Hooks (`before_send`) may point at loopback and private addresses (`HERALD_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private_hooks: bool,
}

impl Accounts {
    /// The accounts handle over one store, with its revocations applied to `hub`'s connections.
    pub fn new(
        store: Arc<dyn herald_store::Store>,
        auth: Arc<Auth>,
        hub: Arc<crate::hub::Hub>,
        allow_private_hooks: bool,
    ) -> Self {
        let revocations = Revocations {
            accounts: store.clone(),
            auth: auth.clone(),
            hub,
        };
        Self {
            store: store.clone(),
            directory: store,
            auth,
            hashing: Arc::new(Hashing::default()),
            throttle: Arc::new(LoginThrottle::default()),
            revocations,
            allow_private_hooks,
        }
    }

    /// Verifies a password under the login throttle (`stored`: `None` for a missing account,
    /// checked with the same work as a wrong password).
    pub async fn verify(
        &self,
        attempt: &Attempt<'_>,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        throttle::verify(&self.throttle, &self.hashing, attempt, password, stored).await
    }

    /// Applies a settings update to an app (the console and `/inner/settings`).
    pub async fn update_settings(
        &self,
        app: &AppRecord,
        update: app_settings::SettingsUpdate,
    ) -> Result<Value, ApiError> {
        let mut updated = app.settings.clone();
        app_settings::apply(&mut updated, update, self.allow_private_hooks)?;
        self.directory.set_app_settings(&app.id, &updated).await?;
        self.auth.forget(&app.id);
        Ok(app_settings::to_json(&updated))
    }
}
