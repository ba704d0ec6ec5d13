//! Sending a message, shared by `POST /send_msg` and the `msg-im` action: validate, register
//! the waiter, queue the command.

use crate::error::ApiError;
use crate::pending::Waiter;
use crate::{Identity, Shared};
use herald_protocol::bus::{ReplyTo, SendCommand};
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

pub fn validate(shared: &Shared, identity: &Identity, request: SendRequest) -> Result<SendCommand, ApiError> {
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
    let idempotency_key = match &request.client_msg_id {
        Some(key) if key.is_empty() || key.len() > MAX_CLIENT_KEY_BYTES => {
            return Err(ApiError::bad_input(format!(
                "client key must be 1 to {MAX_CLIENT_KEY_BYTES} bytes"
            )));
        }
        Some(key) => format!("c:{key}"),
        None => format!("g:{}", uuid::Uuid::new_v4().simple()),
    };
    Ok(SendCommand {
        app: identity.app.clone(),
        conv: request.conv,
        from: identity.session.clone(),
        idempotency_key,
        client_msg_id: request.client_msg_id,
        msg_type: request.msg_type,
        status: request.status,
        content: request.content,
        reply_to: None,
    })
}

/// Registers `waiter` and queues the command; the waiter is answered by the sequencer's ack,
/// a failure here, or the ack timeout.
pub async fn submit(shared: &Shared, mut command: SendCommand, waiter: Waiter) -> Result<(), ApiError> {
    let request = shared.pending.insert(waiter)?;
    command.reply_to = Some(ReplyTo {
        gateway: shared.config.id.clone(),
        request,
    });
    metrics::counter!("herald_commands_in_total", "kind" => "send").increment(1);
    if let Err(err) = shared.publisher.send(command, request).await {
        shared.pending.complete(request, Err(err));
    }
    Ok(())
}
