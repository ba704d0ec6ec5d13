//! First start: the default org and app (protocol §1).

use herald_gateway::{generate_secret, generate_signing_key, hash_secret};
use herald_protocol::AppId;
use herald_store::{AppRecord, AppSettings, DirectoryStore};

pub const DEFAULT_APP: &str = "default";

/// Creates app `default` if missing. Returns the secret when it was generated here (to print
/// once); a given secret replaces the stored one.
pub async fn default_app(store: &dyn DirectoryStore, given_secret: Option<&str>) -> anyhow::Result<Option<String>> {
    let id = AppId::parse(DEFAULT_APP)?;
    if let Some(given) = given_secret
        && given.len() < 16
    {
        anyhow::bail!("HERALD_APP_SECRET must be at least 16 characters");
    }
    match store.app(&id).await? {
        Some(app) => {
            if let Some(given) = given_secret {
                let hash = hash_secret(given);
                if hash != app.secret_hash {
                    store.set_app_secret_hash(&id, &hash).await?;
                    tracing::info!(app = %id, "app secret replaced by HERALD_APP_SECRET");
                }
            }
            Ok(None)
        }
        None => {
            let secret = given_secret.map(str::to_owned).unwrap_or_else(generate_secret);
            let app = AppRecord {
                id: id.clone(),
                org: "default".into(),
                name: "default".into(),
                secret_hash: hash_secret(&secret),
                signing_key: generate_signing_key(),
                created_at: herald_protocol::timefmt::now_nanos(),
                settings: AppSettings::default(),
            };
            let inserted = store.create_app_if_absent(&app).await?;
            tracing::info!(app = %id, inserted, "bootstrapped default org and app");
            Ok((inserted && given_secret.is_none()).then_some(secret))
        }
    }
}
