//! Message and membership operations: the checks before the sequencer orders them.

use super::Api;
use crate::Identity;
use crate::commands::{MAX_CLIENT_KEY_BYTES, command};
use crate::error::ApiError;
use herald_protocol::bus::{Action, Command, MembersCommand, SendCommand};
use herald_protocol::{AppId, ConvId, ErrorCode, MsgId, SessionId, msg};

/// A message to send, as either transport reads it.
pub struct SendRequest {
    pub conv: ConvId,
    pub msg_type: i32,
    pub status: i32,
    pub content: String,
    pub client_msg_id: Option<String>,
}

impl Api {
    /// Checks a send (limits, the session's send rate) and turns it into a command of `me`'s.
    pub async fn send(&self, me: &Identity, request: SendRequest) -> Result<Command, ApiError> {
        if request.content.len() > self.max_content_bytes {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("content is larger than {} bytes", self.max_content_bytes),
            ));
        }
        if request.status == msg::status::DELETED_FOR_ME || request.status == msg::status::RECALLED {
            return Err(ApiError::bad_input(
                "status 1 and 2 are reserved for deleted and recalled messages",
            ));
        }
        let settings = self.settings(&me.app).await?;
        if let Err(retry_after) = self.limiter.take(&me.app, &me.session, &settings) {
            return Err(ApiError::rate_limited(
                format!(
                    "sending too fast: at most {}/s, retry in {retry_after} s",
                    settings.send_rate_per_sec
                ),
                retry_after,
            ));
        }
        let mut request = request;
        let idempotency_key = match &request.client_msg_id {
            Some(key) if key.is_empty() || key.len() > MAX_CLIENT_KEY_BYTES => {
                return Err(ApiError::bad_input(format!(
                    "client key must be 1 to {MAX_CLIENT_KEY_BYTES} bytes"
                )));
            }
            Some(key) => format!("c:{key}"),
            None => format!("g:{}", uuid::Uuid::new_v4().simple()),
        };
        if let Some(content) = self.moderate(me, &settings, &request, &idempotency_key).await? {
            request.content = content;
        }
        let send = SendCommand {
            from: me.session.clone(),
            idempotency_key: idempotency_key.into(),
            client_msg_id: request.client_msg_id.map(Into::into),
            msg_type: request.msg_type,
            status: request.status,
            content: request.content.into(),
        };
        Ok(command(me, request.conv, Action::Send(send)))
    }

    /// The app's before-send hook's say on a send (protocol §10): `Some` replaced content. A
    /// retried send whose message is stored already is not asked again (the sequencer answers it
    /// with the stored message).
    async fn moderate(
        &self,
        me: &Identity,
        settings: &herald_store::AppSettings,
        request: &SendRequest,
        idempotency_key: &str,
    ) -> Result<Option<String>, ApiError> {
        if settings.before_send.is_none() {
            return Ok(None);
        }
        let keys = [(me.session.clone(), idempotency_key.into())];
        if !self
            .log
            .find_idempotent(&me.app, &request.conv, &keys)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let asked = herald_webhooks::before_send::Asked {
            app: &me.app,
            conversation: request.conv.as_str(),
            from: me.session.as_str(),
            msg_type: request.msg_type,
            content: &request.content,
            client_msg_id: request.client_msg_id.as_deref(),
        };
        let replaced = self.hooks.before_send(settings, &asked).await?;
        if let Some(content) = &replaced
            && content.len() > self.max_content_bytes
        {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                "the before-send hook's replacement is larger than the content limit",
            ));
        }
        Ok(replaced)
    }

    /// Marks `conv` read up to `seq` (its last message when absent); members only.
    pub async fn read(&self, me: &Identity, conv: ConvId, seq: Option<u64>) -> Result<Command, ApiError> {
        self.require_member(me, &conv).await?;
        let action = Action::Read {
            session: me.session.clone(),
            seq,
        };
        Ok(command(me, conv, action))
    }

    /// The read cursor of every other member (who has read up to which `Seq`), or `None` for a
    /// conversation of more than `READ_RECEIPT_MAX_MEMBERS` members; members only.
    pub async fn readers(&self, me: &Identity, conv: &ConvId) -> Result<Option<Vec<(SessionId, u64)>>, ApiError> {
        self.require_member(me, conv).await?;
        let members = self.directory.members(&me.app, conv).await?;
        if members.len() > herald_protocol::ws::READ_RECEIPT_MAX_MEMBERS {
            return Ok(None);
        }
        let mut readers = Vec::with_capacity(members.len());
        for member in members.into_iter().filter(|m| *m != me.session) {
            let seq = self.log.read_cursor(&me.app, conv, &member).await?;
            readers.push((member, seq));
        }
        Ok(Some(readers))
    }

    /// Recalls a message for everyone (the sequencer checks sender or owner); members only.
    pub async fn recall(&self, me: &Identity, conv: ConvId, msg_id: MsgId) -> Result<Command, ApiError> {
        self.require_member(me, &conv).await?;
        let action = Action::Recall {
            session: me.session.clone(),
            msg_id,
        };
        Ok(command(me, conv, action))
    }

    /// Deletes a message for `me` only; its `Seq`.
    pub async fn hide_message(&self, me: &Identity, conv: &ConvId, msg_id: MsgId) -> Result<u64, ApiError> {
        self.require_member(me, conv).await?;
        let seq = self.seq_of(me, conv, msg_id).await?;
        self.query.hide_message(&me.app, &me.session, conv, seq).await?;
        Ok(seq)
    }

    /// A membership change of the caller's, to be ordered by the sequencer with the messages;
    /// 404 for an unknown conversation.
    pub async fn membership(&self, me: &Identity, conv: ConvId, change: MembersCommand) -> Result<Command, ApiError> {
        self.require_conversation(&me.app, &conv, "conversation not found".into())
            .await?;
        Ok(command(me, conv, Action::Members(change)))
    }

    /// The app's backend adds (`kick: false`) or removes sessions; 404 for an unknown conversation.
    pub async fn app_membership(
        &self,
        app: &AppId,
        conv: ConvId,
        sessions: Vec<SessionId>,
        kick: bool,
    ) -> Result<Command, ApiError> {
        if sessions.is_empty() {
            return Err(ApiError::new(
                ErrorCode::ConversationNeedsMembers,
                "sessions may not be empty",
            ));
        }
        self.require_conversation(app, &conv, "conversation not found".into())
            .await?;
        let change = if kick {
            MembersCommand::AppKick { sessions }
        } else {
            MembersCommand::AppJoin { sessions }
        };
        Ok(app_command(app, conv, Action::Members(change)))
    }

    /// Archives (or unarchives) conversations of the app; 404 names the first unknown one.
    pub async fn archive(&self, app: &AppId, ids: Vec<String>, archived: bool) -> Result<Vec<Command>, ApiError> {
        let mut commands = Vec::with_capacity(ids.len());
        for id in ids {
            let conv = ConvId::parse(id)?;
            self.require_conversation(app, &conv, format!("conversation {conv} not found"))
                .await?;
            commands.push(conv);
        }
        Ok(commands
            .into_iter()
            .map(|conv| app_command(app, conv, Action::Archive { archived }))
            .collect())
    }
}

fn app_command(app: &AppId, conv: ConvId, action: Action) -> Command {
    Command {
        app: app.clone(),
        conv,
        reply_to: None,
        action,
    }
}
