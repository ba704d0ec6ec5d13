//! Domain rows the store reads and writes.

use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, SessionId};

#[derive(Clone, PartialEq)]
pub struct AppRecord {
    pub id: AppId,
    pub org: String,
    pub name: String,
    /// SHA-256 of the app secret; the secret itself is never stored.
    pub secret_hash: Vec<u8>,
    /// HS256 key of the app's client tokens.
    pub signing_key: Vec<u8>,
    pub created_at: i64,
    pub settings: AppSettings,
}

/// What an app decides about its own users (protocol §6).
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    pub login_policy: LoginPolicy,
    /// 1:1 messages between non-friends are refused (code 1003).
    pub require_friendship: bool,
    /// In a 1:1 conversation, at most this many messages to a peer who never answered; 0 = off.
    pub spam_unanswered_limit: u32,
    /// Token bucket per session: sustained sends per second (0 = unlimited, the default), and the burst.
    pub send_rate_per_sec: f64,
    pub send_burst: u32,
    /// `/user/register` and `/user/login` are open (protocol §6); off by default for every app.
    pub end_user_accounts: bool,
    /// Most members of one conversation (create, invite and join beyond it: 413, code 10007).
    pub max_members: u32,
    /// The app's moderation hook, called before a message is sequenced (protocol §10); none = off.
    pub before_send: Option<BeforeSend>,
}

/// Where and how the before-send hook is called.
#[derive(Debug, Clone, PartialEq)]
pub struct BeforeSend {
    pub url: String,
    /// How long Herald waits for the answer (default 2000).
    pub timeout_ms: u32,
    /// Without an answer in time (or a bad one): allow (true) or refuse with 503 / 10010 (false, the default).
    pub fail_open: bool,
}

/// The default of `BeforeSend::timeout_ms`.
pub const DEFAULT_BEFORE_SEND_TIMEOUT_MS: u32 = 2000;

/// The default of `AppSettings::max_members`.
pub const DEFAULT_MAX_MEMBERS: u32 = 10_000;

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            login_policy: LoginPolicy::Multi,
            require_friendship: false,
            spam_unanswered_limit: 5,
            // a person types far slower; bots and tests raise it (0 = unlimited)
            send_rate_per_sec: 20.0,
            send_burst: 50,
            end_user_accounts: false,
            max_members: DEFAULT_MAX_MEMBERS,
            before_send: None,
        }
    }
}

/// What happens when the same (session, platform) connects again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginPolicy {
    /// Both connections stay.
    #[default]
    Multi,
    /// The older connection gets a kickout push and is closed.
    Kick,
}

impl LoginPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginPolicy::Multi => "multi",
            LoginPolicy::Kick => "kick",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "multi" => Some(LoginPolicy::Multi),
            "kick" => Some(LoginPolicy::Kick),
            _ => None,
        }
    }
}

impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub app: AppId,
    pub id: ConvId,
    pub kind: ConvKind,
    /// The app's own tag (seed 004: no hard limits on types).
    pub conv_type: i64,
    pub name: String,
    pub avatar: String,
    pub owner: SessionId,
    pub open: bool,
    pub archived: bool,
    pub created_at: i64,
}

/// What `Store::create_conversation` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// The conversation was written, and its members with it.
    Created(ConvId),
    /// The two sessions of a `single` conversation already share this one: nothing was written.
    PairExists(ConvId),
    /// A conversation with the requested id exists: nothing was written, its members are unchanged.
    IdTaken,
}

/// A position in a session's conversation list (newest membership first): the last entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub joined_at: i64,
    pub conv: ConvId,
}

/// One conversation in a session's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSummary {
    pub conv: Conversation,
    /// When the session joined: with the id, the list's order and its cursor.
    pub joined_at: i64,
    pub last: Option<MessageRecord>,
    pub read_seq: u64,
    /// Set when the session deleted the conversation from its list at this `Seq`.
    pub hidden_at: Option<u64>,
    pub member_count: u64,
}

impl ConvSummary {
    /// Where the page after this entry starts.
    pub fn cursor(&self) -> ListCursor {
        ListCursor {
            joined_at: self.joined_at,
            conv: self.conv.id.clone(),
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last.as_ref().map(|m| m.seq).unwrap_or(0)
    }

    pub fn unread(&self) -> u64 {
        self.last_seq().saturating_sub(self.read_seq)
    }

    /// Hidden until a message newer than the deletion arrives.
    pub fn is_hidden(&self) -> bool {
        self.hidden_at.is_some_and(|at| self.last_seq() <= at)
    }
}

/// One write of a sequenced batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new message, inserted at (app, conv, seq). Writing the same message again (same
    /// `msg_id`) is a no-op, so a batch can be re-applied; a different message at an occupied
    /// `Seq` is refused and never overwrites it.
    Message(MessageRecord),
    /// A recalled message's tombstone: replaces the status and content of the stored message
    /// with this `msg_id` at (app, conv, seq); refused when no such message is stored.
    Tombstone(MessageRecord),
    AddMember {
        app: AppId,
        conv: ConvId,
        session: SessionId,
        at: i64,
    },
    RemoveMember {
        app: AppId,
        conv: ConvId,
        session: SessionId,
    },
    Archive {
        app: AppId,
        conv: ConvId,
        archived: bool,
    },
    /// Raises (never lowers) a read cursor.
    ReadCursor {
        app: AppId,
        conv: ConvId,
        session: SessionId,
        seq: u64,
    },
    /// Webhook jobs queued with the batch that made their events, so that they are stored
    /// exactly when it is (the embedded server, whose events log does not outlive the process:
    /// see `herald_webhooks::inline`). Queuing is idempotent per (endpoint, event id).
    Webhooks(Vec<crate::WebhookJob>),
}

/// The (sender, idempotency key) pairs to look up in one conversation ([`crate::Store::find_idempotent_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentLookup {
    pub app: AppId,
    pub conv: ConvId,
    pub keys: Vec<(SessionId, herald_protocol::Text)>,
}

/// A partition owner's claim: writes under an epoch lower than the scope's highest are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub scope: String,
    pub epoch: u64,
}

/// A person who runs apps (seed 000 userLogic).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub id: String,
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub nick: String,
    pub created_at: i64,
}

impl std::fmt::Debug for ConsoleUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub created_at: i64,
}

/// An end-user account of an app without its own user system; its session is the user name.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub app: AppId,
    pub user_name: SessionId,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("app", &self.app)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// One token, by its `jti`.
    Token,
    /// Every token of a session issued before `not_before`.
    Session,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Token => "token",
            RevocationKind::Session => "session",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub app: AppId,
    pub kind: RevocationKind,
    /// The `jti`, or the session.
    pub key: String,
    /// Unix milliseconds: tokens issued before are revoked (sessions).
    pub not_before: i64,
    /// Unix seconds after which the entry is moot (every token it revokes has expired).
    pub expires_at: i64,
    /// Unix nanoseconds, from the writer's clock (informative: the feed is read by the store's cursor).
    pub created_at: i64,
}

/// One read of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFeed {
    /// Oldest first.
    pub revocations: Vec<Revocation>,
    /// Where the next read starts.
    pub cursor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequest {
    pub app: AppId,
    pub from: SessionId,
    pub to: SessionId,
    pub information: String,
    pub created_at: i64,
}
