//! `/console/app/{id}/webhooks…`: the same webhook routes as `/inner/webhooks…` (protocol §10),
//! for a console user who is a member of the app's org (a console token instead of the app
//! secret).

use super::console::{ConsoleAuth, member_app};
use super::extract::JsonBody;
use super::webhooks::{self, NewEndpoint, Replay};
use crate::accounts::Accounts;
use crate::api::Api;
use crate::error::ApiResult;
use axum::extract::{Path, State};

#[utoipa::path(post, path = "/console/app/{id}/webhooks", operation_id = "console_create_webhook", tag = "webhooks",
    params(("id" = String, Path)), request_body = NewEndpoint,
    description = "as `POST /inner/webhooks`, for the app `id`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"id\", \"secret\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn create(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewEndpoint>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::create_for(&api, &app.id, body).await
}

#[utoipa::path(get, path = "/console/app/{id}/webhooks", operation_id = "console_list_webhooks", tag = "webhooks",
    params(("id" = String, Path)),
    description = "as `GET /inner/webhooks`: the app's endpoints, never their secrets",
    responses((status = 200, description = "`{\"code\": 0, \"data\": [{id, url, events, created_at}]}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn list(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path(id): Path<String>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::list_for(&api, &app.id).await
}

#[utoipa::path(delete, path = "/console/app/{id}/webhooks/{webhook}", operation_id = "console_delete_webhook", tag = "webhooks",
    params(("id" = String, Path), ("webhook" = String, Path)),
    description = "as `DELETE /inner/webhooks/{id}`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"id\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn delete(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path((id, webhook)): Path<(String, String)>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::delete_for(&api, &app.id, webhook).await
}

#[utoipa::path(post, path = "/console/app/{id}/webhooks/{webhook}/rotate_secret", operation_id = "console_rotate_webhook_secret", tag = "webhooks",
    params(("id" = String, Path), ("webhook" = String, Path)),
    description = "as `POST /inner/webhooks/{id}/rotate_secret`: a new secret, shown once",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"secret\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn rotate_secret(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path((id, webhook)): Path<(String, String)>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::rotate_for(&api, &app.id, webhook).await
}

#[utoipa::path(get, path = "/console/app/{id}/webhooks/{webhook}/dead_letters", operation_id = "console_webhook_dead_letters", tag = "webhooks",
    params(("id" = String, Path), ("webhook" = String, Path)),
    description = "as `GET /inner/webhooks/{id}/dead_letters`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": [...]}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn dead_letters(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path((id, webhook)): Path<(String, String)>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::dead_letters_for(&api, &app.id, webhook).await
}

#[utoipa::path(post, path = "/console/app/{id}/webhooks/{webhook}/replay", operation_id = "console_replay_webhook", tag = "webhooks",
    params(("id" = String, Path), ("webhook" = String, Path)), request_body = Replay,
    description = "as `POST /inner/webhooks/{id}/replay`",
    responses((status = 200, description = "`{\"code\": 0, \"data\": {\"replayed\"}}`"), super::schemas::Errors),
    security(("console_token" = [])))]
pub async fn replay(
    State(accounts): State<Accounts>,
    State(api): State<Api>,
    ConsoleAuth(user): ConsoleAuth,
    Path((id, webhook)): Path<(String, String)>,
    JsonBody(body): JsonBody<Replay>,
) -> ApiResult {
    let app = member_app(&accounts, &user, id).await?;
    webhooks::replay_for(&api, &app.id, webhook, body).await
}
