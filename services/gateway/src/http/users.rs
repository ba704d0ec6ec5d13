//! `/user/*` (contract §6, seed 003): end-user accounts for apps without their own user system.
//! The account's user name is its session.

use super::extract::{Client, JsonBody};
use crate::error::{ApiError, ApiResult, ok};
use crate::{Shared, passwords};
use axum::extract::State;
use herald_protocol::{AppId, ErrorCode, SessionId};
use herald_store::{Account, AppRecord, Revocation, RevocationKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

async fn app_of(shared: &Shared, app: Option<String>) -> Result<Arc<AppRecord>, ApiError> {
    let id = AppId::parse(app.unwrap_or_else(|| "default".into()))?;
    shared
        .auth
        .app(&id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such app"))
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
    description = "creates an account (argon2id at rest); 409 / 10006 when the name is taken in the app",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"userName\"}}`"), super::openapi::Errors))]
pub async fn register(State(shared): State<Arc<Shared>>, JsonBody(body): JsonBody<Register>) -> ApiResult {
    let app = app_of(&shared, body.app).await?;
    let user_name = SessionId::parse(body.user_name)?;
    passwords::check_strength(&body.password)?;
    let account = Account {
        app: app.id.clone(),
        user_name: user_name.clone(),
        password_hash: passwords::hash(body.password).await?,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    if !shared.store.create_account(&account).await? {
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

/// Checks a user's password; the same work and answer whether or not the account exists.
async fn check_password(
    shared: &Shared,
    app: &AppRecord,
    user_name: &SessionId,
    password: String,
) -> Result<(), ApiError> {
    let account = shared.store.account(&app.id, user_name).await?;
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(passwords::dummy_hash);
    if passwords::verify(password, hash).await && account.is_some() {
        Ok(())
    } else {
        Err(ApiError::unauthorized("wrong user name or password"))
    }
}

#[utoipa::path(post, path = "/user/login", operation_id = "user_login", tag = "users", request_body = Login,
    description = "a client token for the account's session",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"token\"}}`"), super::openapi::Errors))]
pub async fn login(State(shared): State<Arc<Shared>>, JsonBody(body): JsonBody<Login>) -> ApiResult {
    let app = app_of(&shared, body.app).await?;
    let user_name =
        SessionId::parse(body.user_name).map_err(|_| ApiError::unauthorized("wrong user name or password"))?;
    check_password(&shared, &app, &user_name, body.password).await?;
    Ok(ok(json!({"token": shared.auth.mint(&app, &user_name, body.platform)?})))
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
    responses((status = 200, description = "`{\"code\": 0}`"), super::openapi::Errors))]
pub async fn set_password(State(shared): State<Arc<Shared>>, JsonBody(body): JsonBody<SetPassword>) -> ApiResult {
    let app = app_of(&shared, body.app).await?;
    let user_name =
        SessionId::parse(body.user_name).map_err(|_| ApiError::unauthorized("wrong user name or password"))?;
    passwords::check_strength(&body.new_password)?;
    check_password(&shared, &app, &user_name, body.old_password).await?;
    let hash = passwords::hash(body.new_password).await?;
    shared.store.set_account_password(&app.id, &user_name, &hash).await?;
    Ok(ok(Value::Null))
}

#[utoipa::path(post, path = "/user/logout", operation_id = "user_logout", tag = "users",
    description = "revokes the calling token on every gateway within seconds and closes its connections",
    responses((status = 200, description = "`{\"code\": 0}`"), super::openapi::Errors),
    security(("client_token" = [])))]
pub async fn logout(State(shared): State<Arc<Shared>>, Client(me): Client) -> ApiResult {
    let revocation = Revocation {
        app: me.app.clone(),
        kind: RevocationKind::Token,
        key: me.jti.clone(),
        not_before: 0,
        expires_at: me.exp as i64 + 1,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    crate::revocations::revoke(&shared, revocation).await?;
    Ok(ok(Value::Null))
}
