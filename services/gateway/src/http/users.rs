//! `/user/*` (protocol §6, seed 003): end-user accounts for apps without their own user system.
//! The account's user name is its session.

use super::extract::{Client, ClientAddr, JsonBody};
use crate::accounts::Accounts;
use crate::error::{ApiError, ApiResult, ok};
use crate::{passwords, throttle};
use axum::extract::State;
use herald_protocol::{AppId, ErrorCode, SessionId};
use herald_store::{Account, AppRecord, Revocation, RevocationKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;

/// The app, when it has end-user accounts on (its setting `end_user_accounts`, off by default:
/// an account's user name is its session, so an app whose backend mints tokens must never let
/// the public claim those names).
async fn app_with_accounts(accounts: &Accounts, app: Option<String>) -> Result<Arc<AppRecord>, ApiError> {
    let id = AppId::parse(app.unwrap_or_else(|| "default".into()))?;
    let app = accounts
        .auth
        .app(&id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such app"))?;
    if !app.settings.end_user_accounts {
        return Err(ApiError::new(
            ErrorCode::NotAllowed,
            "end-user accounts are off for this app (app setting end_user_accounts)",
        ));
    }
    Ok(app)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Register {
    /// The app id; `default` when absent.
    #[serde(default)]
    app: Option<String>,
    user_name: String,
    password: String,
}

#[utoipa::path(post, path = "/user/register", operation_id = "user_register", tag = "users", request_body = Register,
    description = "creates an account (argon2id at rest); 403 / 10003 unless the app has the setting `end_user_accounts` on (off by default, `default` included); 409 / 10006 when the name is taken in the app",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"userName\"}}`"), super::schemas::Errors))]
pub async fn register(State(accounts): State<Accounts>, JsonBody(body): JsonBody<Register>) -> ApiResult {
    let app = app_with_accounts(&accounts, body.app).await?;
    let user_name = SessionId::parse(body.user_name)?;
    passwords::check_strength(&body.password)?;
    let account = Account {
        app: app.id.clone(),
        user_name: user_name.clone(),
        password_hash: accounts.hashing.hash(body.password).await?,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    if !accounts.store.create_account(&account).await? {
        return Err(ApiError::new(ErrorCode::Conflict, "this user name is taken"));
    }
    Ok(ok(json!({"userName": user_name})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    #[serde(default)]
    app: Option<String>,
    user_name: String,
    password: String,
    #[serde(default)]
    platform: u8,
}

fn wrong() -> ApiError {
    ApiError::unauthorized("wrong user name or password")
}

/// Checks a user's password under the login throttle; the same work and answer whether or not
/// the account exists.
async fn check_password(
    accounts: &Accounts,
    app: &AppRecord,
    user_name: &SessionId,
    address: Option<IpAddr>,
    password: String,
) -> Result<(), ApiError> {
    let account = accounts.store.account(&app.id, user_name).await?;
    let attempt = throttle::Attempt {
        scope: app.id.as_str(),
        account: user_name.as_str(),
        address,
    };
    let stored = account.map(|a| a.password_hash);
    if accounts.verify(&attempt, password, stored).await? {
        Ok(())
    } else {
        Err(wrong())
    }
}

#[utoipa::path(post, path = "/user/login", operation_id = "user_login", tag = "users", request_body = Login,
    description = "a client token for the account's session; 403 / 10003 unless the app has `end_user_accounts` on. Failed logins are throttled: after 5 failures of one account or 20 of one client address within a minute, every login of it (the right password too) is answered 429 / 10008 with `Retry-After` until the minute has passed; 503 / 10010 when too many logins are being checked at once",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"token\"}}`"), super::schemas::Errors))]
pub async fn login(
    State(accounts): State<Accounts>,
    ClientAddr(address): ClientAddr,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult {
    let app = app_with_accounts(&accounts, body.app).await?;
    let user_name = SessionId::parse(body.user_name).map_err(|_| wrong())?;
    check_password(&accounts, &app, &user_name, address, body.password).await?;
    Ok(ok(
        json!({"token": accounts.auth.mint(&app, &user_name, body.platform)?}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetPassword {
    #[serde(default)]
    app: Option<String>,
    user_name: String,
    old_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/user/set_password", operation_id = "user_set_password", tag = "users", request_body = SetPassword,
    description = "changes the password and revokes every token of the session issued before (its connections are closed, on every gateway within seconds); throttled like `/user/login`; 403 / 10003 unless the app has `end_user_accounts` on",
    responses((status = 200, description = "`{\"code\": 0}`"), super::schemas::Errors))]
pub async fn set_password(
    State(accounts): State<Accounts>,
    ClientAddr(address): ClientAddr,
    JsonBody(body): JsonBody<SetPassword>,
) -> ApiResult {
    let app = app_with_accounts(&accounts, body.app).await?;
    let user_name = SessionId::parse(body.user_name).map_err(|_| wrong())?;
    passwords::check_strength(&body.new_password)?;
    check_password(&accounts, &app, &user_name, address, body.old_password).await?;
    let hash = accounts.hashing.hash(body.new_password).await?;
    accounts.store.set_account_password(&app.id, &user_name, &hash).await?;
    let revocation = Revocation {
        app: app.id.clone(),
        kind: RevocationKind::Session,
        key: user_name.to_string(),
        not_before: crate::auth::now_millis() as i64 + 1,
        expires_at: crate::auth::now_secs() as i64 + accounts.auth.token_ttl().as_secs() as i64 + 1,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    accounts.revocations.revoke(revocation).await?;
    Ok(ok(Value::Null))
}

#[utoipa::path(post, path = "/user/logout", operation_id = "user_logout", tag = "users",
    description = "revokes the calling token on every gateway within seconds and closes its connections",
    responses((status = 200, description = "`{\"code\": 0}`"), super::schemas::Errors),
    security(("client_token" = [])))]
pub async fn logout(State(accounts): State<Accounts>, Client(me): Client) -> ApiResult {
    let revocation = Revocation {
        app: me.app.clone(),
        kind: RevocationKind::Token,
        key: me.jti.clone(),
        not_before: 0,
        expires_at: me.exp as i64 + 1,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    accounts.revocations.revoke(revocation).await?;
    Ok(ok(Value::Null))
}
