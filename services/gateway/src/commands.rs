//! Commands from HTTP routes and `/ws` actions alike: validate, register the waiter, queue.

use crate::error::ApiError;
use crate::pending::{Outcome, Waiter};
use crate::{Identity, Shared};
use herald_protocol::bus::{Action, Command, ReplyTo, SendCommand};
use herald_protocol::{ConvId, ErrorCode, msg};

/// Longest accepted client idempotency key, in bytes.
pub const MAX_CLIENT_KEY_BYTES: usize = 128;

pub struct SendRequest {
    pub conv: ConvId,
    pub msg_type: i32,
    pub status: i32,
    pub content: String,
    pub client_msg_id: Option<String>,
}

/// Checks a send (limits, the session's send rate) and turns it into a command of `identity`'s.
pub async fn send(shared: &Shared, identity: &Identity, request: SendRequest) -> Result<Command, ApiError> {
    if request.content.len() > shared.config.max_content_bytes {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("content is larger than {} bytes", shared.config.max_content_bytes),
        ));
    }
    if request.status == msg::status::DELETED_FOR_ME || request.status == msg::status::RECALLED {
        return Err(ApiError::bad_input(
            "status 1 and 2 are reserved for deleted and recalled messages",
        ));
    }
    let settings = shared
        .auth
        .app(&identity.app)
        .await?
        .map(|app| app.settings.clone())
        .unwrap_or_default();
    if let Err(retry_after) = shared.limiter.take(&identity.app, &identity.session, &settings) {
        return Err(ApiError::rate_limited(
            format!(
                "sending too fast: at most {}/s, retry in {retry_after} s",
                settings.send_rate_per_sec
            ),
            retry_after,
        ));
    }
    let idempotency_key = match &request.client_msg_id {
        Some(key) if key.is_empty() || key.len() > MAX_CLIENT_KEY_BYTES => {
            return Err(ApiError::bad_input(format!(
                "client key must be 1 to {MAX_CLIENT_KEY_BYTES} bytes"
            )));
        }
        Some(key) => format!("c:{key}"),
        None => format!("g:{}", uuid::Uuid::new_v4().simple()),
    };
    Ok(command(
        identity,
        request.conv,
        Action::Send(SendCommand {
            from: identity.session.clone(),
            idempotency_key,
            client_msg_id: request.client_msg_id,
            msg_type: request.msg_type,
            status: request.status,
            content: request.content,
        }),
    ))
}

pub fn command(identity: &Identity, conv: ConvId, action: Action) -> Command {
    Command {
        app: identity.app.clone(),
        conv,
        reply_to: None,
        action,
    }
}

/// Registers `waiter` and queues the command; the waiter is answered by the sequencer's ack,
/// a failure here, or the ack timeout.
#[tracing::instrument(name = "gateway.command", skip_all, fields(kind = command.kind(), conv = %command.conv))]
pub async fn submit(shared: &Shared, mut command: Command, waiter: Waiter) -> Result<(), ApiError> {
    let request = shared.pending.insert(waiter)?;
    command.reply_to = Some(ReplyTo {
        gateway: shared.config.id.clone(),
        request,
    });
    metrics::counter!("herald_commands_in_total", "kind" => command.kind()).increment(1);
    let trace = herald_bus::trace::current_traceparent();
    if let Err(err) = shared.publisher.publish(command, request, trace).await {
        shared.pending.complete(request, Err(err));
    }
    Ok(())
}

/// Submits and waits for the outcome (HTTP routes).
pub async fn submit_and_wait(shared: &Shared, command: Command) -> Result<Outcome, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    submit(shared, command, Waiter::Http(tx)).await?;
    rx.await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "gateway shutting down, retry"))
}
