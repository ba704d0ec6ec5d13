//! `/console/*` (protocol §6, seed 000 userLogic): console users, orgs and apps. A console user
//! sees only the orgs it belongs to and their apps; anything else is 404.

use super::extract::{ClientAddr, JsonBody};
use crate::accounts::Accounts;
use crate::error::{ApiError, ApiResult, ok};
use crate::{Shared, app_settings, passwords, throttle};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use herald_protocol::{AppId, ErrorCode};
use herald_store::{AppRecord, AppSettings, ConsoleUser, Org};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The console user of a request (`Authorization: Bearer <console token>`).
pub struct ConsoleAuth(pub String);

impl FromRequestParts<Arc<Shared>> for ConsoleAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Shared>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing console token"))?;
        Ok(ConsoleAuth(state.auth.verify_console(token.trim())?))
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "not found")
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ApiError::bad_input(format!("{field} must be 1 to {max} bytes")));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Register {
    email: String,
    password: String,
    #[serde(default)]
    nick: String,
}

#[utoipa::path(post, path = "/console/reg", operation_id = "console_register", tag = "console", request_body = Register,
    description = "registers a console user (password: argon2id at rest); 409 / 10006 when the email is taken",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"userId\"}}`"), super::schemas::Errors))]
pub async fn register(State(accounts): State<Accounts>, JsonBody(body): JsonBody<Register>) -> ApiResult {
    let email = body.email.trim().to_lowercase();
    check_len("email", &email, 254)?;
    if !email.contains('@') {
        return Err(ApiError::bad_input("email must contain @"));
    }
    check_len("nick", if body.nick.is_empty() { "-" } else { &body.nick }, 64)?;
    passwords::check_strength(&body.password)?;
    let user = ConsoleUser {
        id: format!("u_{}", uuid::Uuid::new_v4().simple()),
        email,
        password_hash: accounts.hashing.hash(body.password).await?,
        nick: body.nick,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    if !accounts.store.create_console_user(&user).await? {
        return Err(ApiError::new(ErrorCode::Conflict, "this email is registered"));
    }
    Ok(ok(json!({"userId": user.id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/console/login", operation_id = "console_login", tag = "console", request_body = Login,
    description = "a console token (24 h) for the other console routes. Failed logins are throttled: after 5 failures of one email or 20 of one client address within a minute, every login of it is answered 429 / 10008 with `Retry-After` until the minute has passed (the right password too); 503 / 10010 when too many logins are being checked at once",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"token\"}}`"), super::schemas::Errors))]
pub async fn login(
    State(accounts): State<Accounts>,
    ClientAddr(address): ClientAddr,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult {
    let email = body.email.trim().to_lowercase();
    if email.len() > 254 {
        return Err(ApiError::unauthorized("wrong email or password"));
    }
    let user = accounts.store.console_user_by_email(&email).await?;
    let attempt = throttle::Attempt {
        scope: "console",
        account: &email,
        address,
    };
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let verified = accounts.verify(&attempt, body.password, stored).await?;
    match user {
        Some(user) if verified => Ok(ok(json!({"token": accounts.auth.mint_console(&user.id)?}))),
        _ => Err(ApiError::unauthorized("wrong email or password")),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateOrg {
    name: String,
    #[serde(default)]
    desc: String,
}

fn org_json(org: &Org) -> Value {
    json!({"orgId": org.id, "name": org.name, "desc": org.description, "owner": org.owner})
}

#[utoipa::path(post, path = "/console/org", operation_id = "console_create_org", tag = "console", request_body = CreateOrg,
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"orgId\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn create_org(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    JsonBody(body): JsonBody<CreateOrg>,
) -> ApiResult {
    check_len("name", &body.name, 128)?;
    if body.desc.len() > 1024 {
        return Err(ApiError::bad_input("desc must be at most 1024 bytes"));
    }
    let org = Org {
        id: format!("o_{}", uuid::Uuid::new_v4().simple()),
        name: body.name,
        description: body.desc,
        owner: user,
        created_at: herald_protocol::timefmt::now_nanos(),
    };
    accounts.store.create_org(&org).await?;
    Ok(ok(json!({"orgId": org.id})))
}

#[utoipa::path(get, path = "/console/orgs", operation_id = "console_list_orgs", tag = "console",
    responses((status = 200, description = "the caller's orgs"), super::schemas::Errors), security(("console_token" = [])))]
pub async fn list_orgs(State(accounts): State<Accounts>, ConsoleAuth(user): ConsoleAuth) -> ApiResult {
    let orgs = accounts.store.orgs_of(&user).await?;
    Ok(ok(orgs.iter().map(org_json).collect::<Vec<_>>()))
}

async fn member_org(accounts: &Accounts, user: &str, org: &str) -> Result<Org, ApiError> {
    if !accounts.store.is_org_member(org, user).await? {
        return Err(not_found());
    }
    accounts.store.org(org).await?.ok_or_else(not_found)
}

#[utoipa::path(get, path = "/console/org/{id}", operation_id = "console_get_org", tag = "console", params(("id" = String, Path)),
    responses((status = 200, description = "the org (members only; 404 otherwise)"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn get_org(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(ok(org_json(&member_org(&accounts, &user, &id).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateApp {
    org_id: String,
    name: String,
}

fn app_json(app: &AppRecord) -> Value {
    json!({
        "appId": app.id,
        "orgId": app.org,
        "name": app.name,
        "createdAt": herald_protocol::timefmt::rfc3339_nanos(app.created_at),
        "settings": app_settings::to_json(&app.settings),
    })
}

#[utoipa::path(post, path = "/console/app", operation_id = "console_create_app", tag = "console", request_body = CreateApp,
    description = "creates an app; its secret (256 random bits) is shown only here and on rotation, and stored hashed",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"appId\", \"secret\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn create_app(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    JsonBody(body): JsonBody<CreateApp>,
) -> ApiResult {
    check_len("name", &body.name, 128)?;
    let org = member_org(&accounts, &user, &body.org_id).await?;
    let secret = crate::generate_secret();
    let app = AppRecord {
        id: AppId::parse(format!("a_{}", uuid::Uuid::new_v4().simple()))?,
        org: org.id,
        name: body.name,
        secret_hash: crate::hash_secret(&secret),
        signing_key: crate::generate_signing_key(),
        created_at: herald_protocol::timefmt::now_nanos(),
        settings: AppSettings::default(),
    };
    accounts.directory.create_app_if_absent(&app).await?;
    Ok(ok(json!({"appId": app.id, "secret": secret})))
}

#[utoipa::path(get, path = "/console/apps/{org_id}", operation_id = "console_list_apps", tag = "console", params(("org_id" = String, Path)),
    responses((status = 200, description = "the org's apps, never their secrets"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn list_apps(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(org): Path<String>,
) -> ApiResult {
    let org = member_org(&accounts, &user, &org).await?;
    let apps = accounts.store.apps_of_org(&org.id).await?;
    Ok(ok(apps.iter().map(app_json).collect::<Vec<_>>()))
}

/// The app, if the console user belongs to its org.
pub(super) async fn member_app(accounts: &Accounts, user: &str, id: String) -> Result<AppRecord, ApiError> {
    let id = AppId::parse(id).map_err(|_| not_found())?;
    let app = accounts.directory.app(&id).await?.ok_or_else(not_found)?;
    if !accounts.store.is_org_member(&app.org, user).await? {
        return Err(not_found());
    }
    Ok(app)
}

#[utoipa::path(get, path = "/console/app/{id}", operation_id = "console_get_app", tag = "console", params(("id" = String, Path)),
    responses((status = 200, description = "the app, never its secret"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn get_app(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(ok(app_json(&member_app(&accounts, &user, id).await?)))
}

#[utoipa::path(post, path = "/console/app/{id}/rotate_secret", operation_id = "console_rotate_secret", tag = "console", params(("id" = String, Path)),
    description = "a new secret, shown once; the old one stops working (here at once, on other gateways within 10 s)",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"secret\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn rotate_secret(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    let secret = crate::generate_secret();
    accounts
        .directory
        .set_app_secret_hash(&app.id, &crate::hash_secret(&secret))
        .await?;
    accounts.auth.forget(&app.id);
    Ok(ok(json!({"secret": secret})))
}

#[utoipa::path(get, path = "/console/app/{id}/settings", operation_id = "console_get_settings", tag = "console", params(("id" = String, Path)),
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::SettingsData), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn get_settings(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(ok(app_settings::to_json(
        &member_app(&accounts, &user, id).await?.settings,
    )))
}

#[utoipa::path(put, path = "/console/app/{id}/settings", operation_id = "console_put_settings", tag = "console", params(("id" = String, Path)),
    request_body = crate::app_settings::SettingsUpdate,
    description = "changes apply within seconds on every gateway; unknown fields are refused",
    responses((status = 200, description = "`{\"code\": 0, \"data\": ...}`", body = super::schemas::SettingsData), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn put_settings(
    State(accounts): State<Accounts>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
    JsonBody(update): JsonBody<app_settings::SettingsUpdate>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    Ok(ok(accounts.update_settings(&app, update).await?))
}
