//! `/openapi.json`: the OpenAPI description, generated from the handlers' annotations, the
//! request types, the error codes and the limits in this code.

use super::schemas::{ERROR_CODES, ErrorEnvelope, MsgData};
use super::{client_routes, console, health, inner, notify, users, ws};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("a client token from /inner/get_token; `?token=` works too"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "console_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("a console token from /console/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "app_secret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the app secret (shown once at creation; HERALD_APP_SECRET for app `default`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The limits, error codes and the `/ws` protocol, written into the description from the code.
struct Reference;

impl Modify for Reference {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut text = String::from(
            "Herald's HTTP API (docs/protocol.md §4 in the repository), push channel (§3) and native WebSocket protocol (§5). Every JSON \
             route answers `{\"code\": 0, \"data\": ...}` or `{\"code\": <non-zero>, \"error\": \"...\"}`.\n\n## Error codes\n\n\
             | code | HTTP | meaning |\n|---|---|---|\n",
        );
        for (code, meaning) in ERROR_CODES {
            text.push_str(&format!("| {} | {} | {meaning} |\n", code.code(), code.http_status()));
        }
        text.push_str("\n## Limits (defaults; see `herald --help`)\n\n| limit | value |\n|---|---|\n");
        for (name, value) in limits() {
            text.push_str(&format!("| {name} | {value} |\n"));
        }
        text.push_str(super::ws_actions::PROTOCOL_REFERENCE);
        openapi.info.description = Some(text);
    }
}

/// The limits table of the description: each limit, and its value read from the code.
fn limits() -> Vec<(&'static str, String)> {
    vec![
            (
                "HTTP body",
                "64 KiB (HERALD_MAX_BODY_BYTES); bodies over 1 MiB are not read".into(),
            ),
            ("message content", "32 KiB (HERALD_MAX_CONTENT_BYTES)".into()),
            (
                "WebSocket frame",
                format!(
                    "{} bytes: larger frames get 10007 and the connection stays; over {} bytes the connection is closed (1009)",
                    herald_protocol::ws::MAX_FRAME_BYTES,
                    ws::HARD_FRAME_BYTES
                ),
            ),
            (
                "ids (session, conversation, app)",
                format!("1-{} bytes, no control characters", herald_protocol::ids::MAX_ID_LEN),
            ),
            (
                "client key (client_msg_id, msgKey)",
                format!("1-{} bytes", crate::commands::MAX_CLIENT_KEY_BYTES),
            ),
            (
                "sessions per create request",
                crate::conversations::MAX_CREATE_MEMBERS.to_string(),
            ),
            (
                "members per conversation",
                format!(
                    "the app setting max_members, default {}: create, invite and join beyond it get 413 / 10007",
                    herald_store::DEFAULT_MAX_MEMBERS
                ),
            ),
            (
                "history page / range",
                format!(
                    "{} messages and about {} KiB (`HasMore` / `hasMore` when the bytes cut it short)",
                    herald_store::MAX_PAGE,
                    crate::budget::REPLY_BUDGET_BYTES / 1024
                ),
            ),
            (
                "conversations per list page",
                format!(
                    "default {}, at most {}, and about {} KiB (then `Next` / `next`)",
                    crate::conversations::LIST_PAGE_DEFAULT,
                    crate::conversations::LIST_PAGE_MAX,
                    crate::budget::REPLY_BUDGET_BYTES / 1024
                ),
            ),
            (
                "friend-list",
                format!(
                    "about {} KiB (then `hasMore`)",
                    crate::budget::REPLY_BUDGET_BYTES / 1024
                ),
            ),
            (
                "msg-listHistory limit",
                format!(
                    "default {}, at most {}",
                    super::ws_actions::HISTORY_DEFAULT,
                    super::ws_actions::HISTORY_MAX
                ),
            ),
            (
                "sync",
                format!(
                    "{} conversations per request; one reply carries at most {} messages and about {} KiB in all (then hasMore)",
                    super::ws_actions::SYNC_MAX_CONVS,
                    super::ws_actions::SYNC_MAX_MSGS,
                    crate::budget::REPLY_BUDGET_BYTES / 1024
                ),
            ),
            (
                "chat rooms per connection",
                crate::rooms::MAX_ROOMS_PER_CONNECTION.to_string(),
            ),
            ("connections per session per gateway", "16 (429 / 10008 beyond)".into()),
            (
                "outbound queue per connection",
                "1024 frames (HERALD_OUTBOUND_QUEUE) and 4 MiB (HERALD_OUTBOUND_QUEUE_BYTES); a connection past either is closed with 1008".into(),
            ),
            (
                "write to a connection",
                format!(
                    "{} s (a client that does not read): the connection is closed (1008) and freed",
                    ws::WRITE_TIMEOUT.as_secs()
                ),
            ),
            (
                "/ws requests in flight per connection",
                format!(
                    "{} waiting for the sequencer; one more is answered with error 10008 and not done",
                    crate::hub::MAX_IN_FLIGHT
                ),
            ),
            (
                "typing pushes per session",
                format!(
                    "{}/s, bursts of {}; more are answered but not pushed",
                    crate::ratelimit::TYPING_RATE.per_sec,
                    crate::ratelimit::TYPING_RATE.burst
                ),
            ),
            (
                "call signals per session (`signal`, /im/connect 600)",
                format!(
                    "{}/s, bursts of {}, at most {} sessions each (error 10008 / 10007)",
                    crate::ratelimit::SIGNAL_RATE.per_sec,
                    crate::ratelimit::SIGNAL_RATE.burst,
                    crate::api::MAX_SIGNAL_TARGETS
                ),
            ),
            (
                "friend requests per session",
                format!(
                    "{} at once, then one every {} s (error 10008, retry in N s)",
                    crate::ratelimit::FRIEND_REQUEST_RATE.burst,
                    (1.0 / crate::ratelimit::FRIEND_REQUEST_RATE.per_sec).round()
                ),
            ),
            (
                "sends per session (app settings send_rate_per_sec, send_burst)",
                "20/s, bursts of 50, per gateway (0 = unlimited); 429 / 10008 with Retry-After".into(),
            ),
            ("token lifetime", "a connection is closed (4002) when its token expires, (4003) when it is revoked".into()),
            (
                "sends waiting per gateway",
                "65,536 (HERALD_MAX_PENDING); 503 / 10010 beyond".into(),
            ),
            (
                "long poll",
                format!(
                    "wait 1-{} s (default {}), max 1-{} (default {}); {} events and 4 MiB (HERALD_OUTBOUND_QUEUE_BYTES) kept per (session, platform) for at least {} s after the last poll; overflow drops the oldest and says how many in `X-Herald-Dropped`",
                    notify::POLL_WAIT_MAX,
                    notify::POLL_WAIT_DEFAULT,
                    notify::POLL_MAX_MAX,
                    notify::POLL_MAX_DEFAULT,
                    crate::mailbox::MAILBOX_CAPACITY,
                    crate::mailbox::POLL_KEEP.as_secs()
                ),
            ),
            (
                "end-user accounts",
                "off for every app until its setting `end_user_accounts` is on; 403 / 10003 on /user/register, /user/login, /user/set_password".into(),
            ),
            (
                "failed logins (console and accounts)",
                format!(
                    "{} per account and {} per client address (socket peer) per {} s; beyond, every login of it is refused (the right password too) with 429 / 10008 and `Retry-After` until the window ends",
                    crate::throttle::ACCOUNT_FAILURES,
                    crate::throttle::ADDRESS_FAILURES,
                    crate::throttle::WINDOW.as_secs()
                ),
            ),
            (
                "password hashing",
                format!(
                    "one argon2id hash per core at once, {} per core waiting; beyond, 503 / 10010 at once",
                    crate::passwords::QUEUED_PER_CORE
                ),
            ),
            (
                "SSE keep-alive",
                format!("a comment every {} s", notify::SSE_KEEP_ALIVE.as_secs()),
            ),
        ]
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "see below"),
    paths(
        client_routes::send_msg,
        client_routes::check_joined,
        client_routes::joined,
        client_routes::detail,
        client_routes::join,
        client_routes::create_conversation,
        client_routes::leave,
        client_routes::lastone_msgid,
        client_routes::by_range,
        client_routes::before_id,
        client_routes::after_id,
        client_routes::last_30,
        client_routes::lastone_msg,
        inner::get_token,
        inner::create_conversation,
        inner::kickout,
        inner::join,
        inner::set_archive,
        inner::get_settings,
        inner::put_settings,
        inner::revoke_session,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::delete,
        super::webhooks::rotate_secret,
        super::webhooks::dead_letters,
        super::webhooks::replay,
        super::webhooks::put_bot,
        super::webhooks::delete_bot,
        super::webhooks::send_as,
        super::console_webhooks::create,
        super::console_webhooks::list,
        super::console_webhooks::delete,
        super::console_webhooks::rotate_secret,
        super::console_webhooks::dead_letters,
        super::console_webhooks::replay,
        console::register,
        console::login,
        console::create_org,
        console::list_orgs,
        console::get_org,
        console::create_app,
        console::list_apps,
        console::get_app,
        console::rotate_secret,
        console::get_settings,
        console::put_settings,
        users::register,
        users::login,
        users::set_password,
        users::logout,
        notify::notify,
        ws::upgrade,
        super::seeds::im_connect,
        super::seeds::gin_chat::chat_test,
        super::seeds::ping,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    components(schemas(ErrorEnvelope, MsgData)),
    modifiers(&Security, &Reference),
    tags(
        (name = "client", description = "routes for end users' clients (client token)"),
        (name = "inner", description = "routes for the app's own backend (app secret)"),
        (name = "push", description = "the push channel and the native WebSocket protocol"),
        (name = "console", description = "console users, orgs and apps (console token)"),
        (name = "users", description = "end-user accounts for apps without their own user system"),
        (name = "webhooks", description = "the app's backend hears what happens (signed POSTs: `Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`, `Herald-Event-Id`), moderates before send, runs bots, sends as a session (app secret; docs/protocol.md §10)"),
        (name = "ops", description = "health, readiness and metrics (on HERALD_ADMIN_ADDR when that is set)")
    )
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

pub async fn serve() -> axum::Json<&'static serde_json::Value> {
    axum::Json(document())
}
