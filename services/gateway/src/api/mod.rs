//! The client operations, each written once: HTTP routes (`http/client_routes.rs`,
//! `http/inner.rs`) and `/ws` actions (`http/ws_actions/`) only read their request's shape,
//! call one of these, and write their reply's. Operations the sequencer orders (a send, a read,
//! a recall, a membership change) are checked here and returned as a `Command` for the
//! transport to submit with its own kind of waiter.

mod conversations;
mod history;
mod messages;
mod social;

pub use conversations::{CreateRequest, Creator};
pub use history::{AROUND_COUNT, Around, SYNC_MAX_CONVS, SYNC_MAX_MSGS};
pub use messages::SendRequest;
pub use social::{Call, MAX_SIGNAL_TARGETS};

use crate::Identity;
use crate::auth::Auth;
use crate::commands::Commands;
use crate::error::ApiError;
use crate::hooks::Hooks;
use crate::pushes::Pushes;
use crate::ratelimit::SendLimiter;
use herald_bus::RouteTable;
use herald_protocol::{AppId, ConvId, ErrorCode, MsgId};
use herald_store::{AppSettings, Conversation, DirectoryStore, LogStore, QueryStore, SocialStore, Store};
use std::sync::Arc;

/// The operations service: the store views, auth (app settings), the command publisher, the
/// pushes and the send limiter its operations use. Cheap to clone: one pointer, which every
/// connection keeps.
#[derive(Clone)]
pub struct Api(Arc<ApiState>);

impl std::ops::Deref for Api {
    type Target = ApiState;

    fn deref(&self) -> &ApiState {
        &self.0
    }
}

/// What an [`Api`] handle shares.
pub struct ApiState {
    log: Arc<dyn LogStore>,
    query: Arc<dyn QueryStore>,
    directory: Arc<dyn DirectoryStore>,
    social: Arc<dyn SocialStore>,
    auth: Arc<Auth>,
    commands: Commands,
    pushes: Pushes,
    limiter: Arc<SendLimiter>,
    routes: Arc<RouteTable>,
    max_content_bytes: usize,
    hooks: Hooks,
}

/// What the operations service is built from.
pub struct ApiParts {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub commands: Commands,
    pub pushes: Pushes,
    pub limiter: Arc<SendLimiter>,
    pub routes: Arc<RouteTable>,
    pub max_content_bytes: usize,
    pub hooks: Hooks,
}

impl Api {
    pub fn new(parts: ApiParts) -> Self {
        let store = parts.store;
        Self(Arc::new(ApiState {
            log: store.clone(),
            query: store.clone(),
            directory: store.clone(),
            social: store,
            auth: parts.auth,
            commands: parts.commands,
            pushes: parts.pushes,
            limiter: parts.limiter,
            routes: parts.routes,
            max_content_bytes: parts.max_content_bytes,
            hooks: parts.hooks,
        }))
    }

    /// The webhooks of the app's backend.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Where the commands these operations return are submitted.
    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// The app's settings (defaults for an app that is gone).
    async fn settings(&self, app: &AppId) -> Result<AppSettings, ApiError> {
        Ok(self
            .auth
            .app(app)
            .await?
            .map(|app| app.settings.clone())
            .unwrap_or_default())
    }

    /// 404 for an unknown conversation, 403 for a non-member.
    pub async fn require_member(&self, me: &Identity, conv: &ConvId) -> Result<Conversation, ApiError> {
        let (conversation, member) = self
            .directory
            .conversation_for(&me.app, conv, &me.session)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "conversation not found"))?;
        if !member {
            return Err(ApiError::new(ErrorCode::NotMember, "not a member of this conversation"));
        }
        Ok(conversation)
    }

    /// 404 for an unknown conversation.
    async fn require_conversation(&self, app: &AppId, conv: &ConvId, message: String) -> Result<(), ApiError> {
        match self.directory.conversation(app, conv).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::new(ErrorCode::NotFound, message)),
        }
    }

    /// The `Seq` of message `id` of `conv`; 404 if it is not one of its messages.
    pub async fn seq_of(&self, me: &Identity, conv: &ConvId, id: MsgId) -> Result<u64, ApiError> {
        self.log
            .message_by_id(&me.app, conv, id)
            .await?
            .map(|m| m.seq)
            .ok_or_else(message_not_found)
    }
}

/// The 404 of a message id that is not in the conversation named (or of a conversation that
/// does not exist, for the seeds that name one by its peer).
pub fn message_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "message not found in this conversation")
}
