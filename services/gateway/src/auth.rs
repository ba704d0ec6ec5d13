//! Client tokens (HS256 JWTs signed with the app's own key, `kid` = app id) and app secrets
//! (SHA-256 at rest, compared in constant time).

use crate::error::ApiError;
use herald_protocol::{AppId, Platform, SessionId};
use herald_store::{AppRecord, Store};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub app: AppId,
    pub session: SessionId,
    pub platform: Platform,
    /// The token's id and issue time (unix milliseconds), for revocation.
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
}

#[cfg(test)]
impl Identity {
    /// A session of app `a` named `s` on platform 1, with a token that never expires.
    pub fn for_tests() -> Self {
        Self {
            app: AppId::parse("a").unwrap(),
            session: SessionId::parse("s").unwrap(),
            platform: 1,
            jti: "j".into(),
            iat: 0,
            exp: u64::MAX,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    plt: u8,
    iat: u64,
    /// Issued-at in milliseconds: session revocations compare at this precision.
    iat_ms: u64,
    exp: u64,
    jti: String,
}

/// A console user's token (protocol §6): signed with the server's console key.
#[derive(Debug, Serialize, Deserialize)]
struct ConsoleClaims {
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
}

const CONSOLE_AUDIENCE: &str = "herald-console";

/// Revoked tokens and sessions, as this gateway knows them (refreshed from the store). Each
/// entry is kept until every token it could match has expired, then pruned.
#[derive(Default)]
pub struct Revoked {
    /// (app, jti) → when the entry is moot (unix seconds).
    tokens: HashMap<(AppId, String), u64>,
    /// (app, session) → (tokens issued before this are revoked (unix ms), when the entry is moot (unix seconds)).
    sessions: HashMap<(AppId, SessionId), (u64, u64)>,
}

impl Revoked {
    /// Applies a revocation; false when it revokes nothing this gateway did not know of already
    /// (the feed may repeat entries).
    pub fn add(&mut self, revocation: &herald_store::Revocation) -> bool {
        let expires_at = revocation.expires_at.max(0) as u64;
        match revocation.kind {
            herald_store::RevocationKind::Token => {
                let key = (revocation.app.clone(), revocation.key.clone());
                let known = self.tokens.get(&key).copied();
                self.tokens.insert(key, known.unwrap_or(0).max(expires_at));
                known.is_none()
            }
            herald_store::RevocationKind::Session => {
                let Ok(session) = SessionId::parse(revocation.key.clone()) else {
                    return false;
                };
                let not_before = revocation.not_before.max(0) as u64;
                let entry = self.sessions.entry((revocation.app.clone(), session)).or_default();
                let raised = not_before > entry.0;
                *entry = (entry.0.max(not_before), entry.1.max(expires_at));
                raised
            }
        }
    }

    pub fn is_revoked(&self, app: &AppId, session: &SessionId, jti: &str, iat: u64) -> bool {
        self.tokens.contains_key(&(app.clone(), jti.to_owned()))
            || self
                .sessions
                .get(&(app.clone(), session.clone()))
                .is_some_and(|(cutoff, _)| iat < *cutoff)
    }

    /// Forgets revocations whose tokens have all expired anyway.
    pub fn prune(&mut self, now_secs: u64) {
        self.tokens.retain(|_, expires_at| *expires_at > now_secs);
        self.sessions.retain(|_, (_, expires_at)| *expires_at > now_secs);
    }

    /// Entries held (tokens and sessions).
    pub fn entries(&self) -> usize {
        self.tokens.len() + self.sessions.len()
    }
}

/// Apps rarely change; they are cached briefly so a rotation is seen within this long.
const APP_CACHE_TTL: Duration = Duration::from_secs(10);

/// Cached apps with the time each was read.
type AppCache<K> = RwLock<HashMap<K, (Instant, Arc<AppRecord>)>>;

pub struct Auth {
    store: Arc<dyn Store>,
    token_ttl: Duration,
    console_key: Vec<u8>,
    pub revoked: RwLock<Revoked>,
    by_id: AppCache<AppId>,
    by_secret: AppCache<Vec<u8>>,
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new app secret: 256 random bits, URL-safe.
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hs_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn generate_signing_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Auth {
    pub fn new(store: Arc<dyn Store>, token_ttl: Duration, console_key: Vec<u8>) -> Self {
        Self {
            store,
            token_ttl,
            console_key,
            revoked: RwLock::default(),
            by_id: RwLock::default(),
            by_secret: RwLock::default(),
        }
    }

    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    /// The app, from a cache at most `APP_CACHE_TTL` old.
    pub async fn app(&self, id: &AppId) -> Result<Option<Arc<AppRecord>>, ApiError> {
        if let Some((at, app)) = self.by_id.read().unwrap_or_else(|p| p.into_inner()).get(id)
            && at.elapsed() < APP_CACHE_TTL
        {
            return Ok(Some(app.clone()));
        }
        let Some(app) = self.store.app(id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), (Instant::now(), app.clone()));
        Ok(Some(app))
    }

    /// Drops the cached app, so this gateway sees a change at once (others within the cache TTL).
    pub fn forget(&self, id: &AppId) {
        self.by_id.write().unwrap_or_else(|p| p.into_inner()).remove(id);
        self.by_secret
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (_, app)| app.id != *id);
    }

    /// The app whose secret this is.
    pub async fn app_by_secret(&self, secret: &str) -> Result<Arc<AppRecord>, ApiError> {
        let hash = hash_secret(secret);
        let cached = self
            .by_secret
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned();
        let app = match cached {
            Some((at, app)) if at.elapsed() < APP_CACHE_TTL => app,
            _ => {
                let app = self
                    .store
                    .app_by_secret_hash(&hash)
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("invalid app secret"))?;
                let app = Arc::new(app);
                let mut cache = self.by_secret.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(hash.clone(), (Instant::now(), app.clone()));
                app
            }
        };
        if bool::from(app.secret_hash.ct_eq(&hash)) {
            Ok(app)
        } else {
            Err(ApiError::unauthorized("invalid app secret"))
        }
    }

    pub fn mint(&self, app: &AppRecord, session: &SessionId, platform: Platform) -> Result<String, ApiError> {
        let iat_ms = now_millis();
        let iat = iat_ms / 1000;
        let claims = Claims {
            sub: session.to_string(),
            plt: platform,
            iat,
            iat_ms,
            exp: iat + self.token_ttl.as_secs(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(app.id.to_string());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&app.signing_key)).map_err(ApiError::internal)
    }

    /// Checks signature and expiry against the token's own app.
    pub async fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let invalid = || ApiError::unauthorized("invalid token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let app_id = header.kid.and_then(|kid| AppId::parse(kid).ok()).ok_or_else(invalid)?;
        let app = self.app(&app_id).await?.ok_or_else(invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&app.signing_key), &validation)
            .map_err(|_| invalid())?;
        let identity = Identity {
            app: app_id,
            session: SessionId::parse(data.claims.sub).map_err(|_| invalid())?,
            platform: data.claims.plt,
            jti: data.claims.jti,
            iat: data.claims.iat_ms,
            exp: data.claims.exp,
        };
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        if revoked.is_revoked(&identity.app, &identity.session, &identity.jti, identity.iat) {
            return Err(ApiError::unauthorized("token revoked"));
        }
        Ok(identity)
    }

    /// A console token for a console user.
    pub fn mint_console(&self, user_id: &str) -> Result<String, ApiError> {
        let iat = now_secs();
        let claims = ConsoleClaims {
            sub: user_id.to_owned(),
            aud: CONSOLE_AUDIENCE.into(),
            iat,
            exp: iat + 24 * 3600,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.console_key),
        )
        .map_err(ApiError::internal)
    }

    /// The console user a console token names.
    pub fn verify_console(&self, token: &str) -> Result<String, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[CONSOLE_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        jsonwebtoken::decode::<ConsoleClaims>(token, &DecodingKey::from_secret(&self.console_key), &validation)
            .map(|data| data.claims.sub)
            .map_err(|_| ApiError::unauthorized("invalid console token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_store::{Revocation, RevocationKind};

    fn revocation(kind: RevocationKind, key: &str, not_before: i64, expires_at: i64) -> Revocation {
        Revocation {
            app: AppId::parse("app").unwrap(),
            kind,
            key: key.into(),
            not_before,
            expires_at,
            created_at: 0,
        }
    }

    #[test]
    fn repeated_entries_are_recognised() {
        let mut revoked = Revoked::default();
        assert!(revoked.add(&revocation(RevocationKind::Token, "jti", 0, 100)));
        assert!(
            !revoked.add(&revocation(RevocationKind::Token, "jti", 0, 100)),
            "a repeat"
        );
        assert!(revoked.add(&revocation(RevocationKind::Session, "zoe", 50, 100)));
        assert!(
            !revoked.add(&revocation(RevocationKind::Session, "zoe", 50, 100)),
            "a repeat"
        );
        assert!(
            !revoked.add(&revocation(RevocationKind::Session, "zoe", 40, 100)),
            "an older cutoff"
        );
        assert!(
            revoked.add(&revocation(RevocationKind::Session, "zoe", 60, 100)),
            "a later cutoff"
        );
        let (app, zoe) = (AppId::parse("app").unwrap(), SessionId::parse("zoe").unwrap());
        assert!(revoked.is_revoked(&app, &zoe, "other", 59));
        assert!(!revoked.is_revoked(&app, &zoe, "other", 60));
        assert!(revoked.is_revoked(&app, &SessionId::parse("yan").unwrap(), "jti", 1_000));
    }

    #[test]
    fn entries_are_pruned_once_every_token_they_match_has_expired() {
        let mut revoked = Revoked::default();
        revoked.add(&revocation(RevocationKind::Token, "jti", 0, 100));
        revoked.add(&revocation(RevocationKind::Session, "zoe", 50, 200));
        revoked.prune(99);
        assert_eq!(revoked.entries(), 2);
        revoked.prune(100);
        assert_eq!(revoked.entries(), 1, "the token entry went at its expiry");
        revoked.prune(200);
        assert_eq!(revoked.entries(), 0, "the session entry too");
    }
}
