//! Conversation operations: creation, the paged list, details, hiding.

use super::Api;
use crate::Identity;
use crate::budget::Budget;
use crate::conversations::{self as convs, CreateSpec, LIST_PAGE_DEFAULT, LIST_PAGE_MAX};
use crate::error::ApiError;
use herald_protocol::ws::Scalar;
use herald_protocol::{AppId, ConvId, ConvKind, ErrorCode, SessionId, timefmt};
use herald_store::{ConvSummary, Conversation, Creation, DEFAULT_MAX_MEMBERS, ListCursor};
use serde_json::{Value, json};

/// Who creates a conversation: a member (it owns the conversation and is in it; open unless
/// asked otherwise) or the app's backend (`sessions` may not be empty, the first owns it;
/// closed unless asked otherwise).
pub enum Creator<'a> {
    Member(&'a Identity),
    App(&'a AppId),
}

/// A creation request as every transport reads it.
pub struct CreateRequest {
    /// `group` (`multi`, the default) or `single`.
    pub kind: Option<String>,
    /// The app's own integer tag.
    pub conv_type: Scalar,
    /// The other members (`Creator::Member`) or all of them (`Creator::App`).
    pub sessions: Vec<String>,
    /// A requested group id (seed 000 `convKey`); empty means none.
    pub id: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub open: Option<bool>,
}

/// A page of the conversation list: entries as the transport renders them, and the cursor of
/// the next page (none at the end).
pub struct ConvPage {
    pub entries: Vec<Value>,
    pub next: Option<String>,
}

impl Api {
    /// Creates a conversation; a `single` one between the same two sessions is returned as it is.
    /// A group whose requested id is taken is refused (409 / 10006) and nobody is added to it,
    /// unless the caller owns it (a retried creation gets its conversation back).
    pub async fn create_conversation(&self, creator: Creator<'_>, request: CreateRequest) -> Result<ConvId, ApiError> {
        let (app, spec) = match creator {
            Creator::Member(me) => (&me.app, member_spec(me, request)?),
            Creator::App(app) => (app, app_spec(request)?),
        };
        self.check_member_cap(app, spec.members.len()).await?;
        if spec.kind == ConvKind::Single && spec.members.len() != 2 {
            return Err(ApiError::new(
                ErrorCode::ConversationNeedsMembers,
                "a single conversation has exactly two sessions",
            ));
        }
        let conv = Conversation {
            app: app.clone(),
            id: spec.id.unwrap_or_else(convs::new_conv_id),
            kind: spec.kind,
            conv_type: spec.conv_type,
            name: spec.name,
            avatar: spec.avatar,
            owner: spec.owner,
            open: spec.open && spec.kind == ConvKind::Group,
            archived: false,
            created_at: timefmt::now_nanos(),
        };
        match self.directory.create_conversation(&conv, &spec.members).await? {
            Creation::Created(id) => {
                metrics::counter!("herald_conversations_created_total").increment(1);
                self.hooks.emit(vec![created_event(&conv, &spec.members)]).await;
                Ok(id)
            }
            Creation::PairExists(id) => Ok(id),
            Creation::IdTaken => match self.directory.conversation(app, &conv.id).await? {
                Some(existing) if existing.owner == conv.owner => Ok(existing.id),
                _ => Err(ApiError::new(ErrorCode::Conflict, "a conversation with this id exists")),
            },
        }
    }

    /// 413 / 10007 when a conversation of `members` would exceed the app's `max_members`.
    async fn check_member_cap(&self, app: &AppId, members: usize) -> Result<(), ApiError> {
        let max = self
            .auth
            .app(app)
            .await?
            .map_or(DEFAULT_MAX_MEMBERS, |app| app.settings.max_members);
        if members > max as usize {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("a conversation has at most {max} members"),
            ));
        }
        Ok(())
    }

    /// The single (1:1) conversation of `me` and `peer`, created when it does not exist yet.
    pub async fn single_with(&self, me: &Identity, peer: String) -> Result<ConvId, ApiError> {
        let request = CreateRequest {
            kind: Some("single".to_owned()),
            conv_type: Scalar::Null,
            sessions: vec![peer],
            id: None,
            name: None,
            avatar: None,
            open: None,
        };
        self.create_conversation(Creator::Member(me), request).await
    }

    /// The single conversation of `me` and `peer` if they have one; never creates it, so a read
    /// by a stranger leaves both lists as they were. Refuses what `single_with` refuses (a
    /// malformed peer, `me` as its own peer).
    pub async fn single_between(&self, me: &Identity, peer: String) -> Result<Option<ConvId>, ApiError> {
        let peer = SessionId::parse(peer)?;
        if peer == me.session {
            return Err(ApiError::new(
                ErrorCode::ConversationNeedsMembers,
                "a single conversation has exactly two sessions",
            ));
        }
        Ok(self.directory.single_between(&me.app, &me.session, &peer).await?)
    }

    /// How the seeds' protocols name a conversation of `me`'s: a single one by its other member
    /// (`Some`), a group by its own id (`None`). 404 / 403 as for any member's read.
    pub async fn peer_in(&self, me: &Identity, conv: &ConvId) -> Result<Option<SessionId>, ApiError> {
        let conversation = self.require_member(me, conv).await?;
        if conversation.kind != ConvKind::Single {
            return Ok(None);
        }
        let members = self.directory.members(&me.app, conv).await?;
        Ok(members
            .into_iter()
            .find(|m| *m != me.session)
            .or(Some(me.session.clone())))
    }

    /// A conversation as `conv-create` answers it: its fields and all its members.
    pub async fn conversation_with_members(&self, app: &AppId, id: &ConvId) -> Result<Value, ApiError> {
        let conv = self
            .directory
            .conversation(app, id)
            .await?
            .ok_or_else(|| ApiError::internal("created conversation missing"))?;
        let links = self.directory.members(app, id).await?;
        let mut data = convs::conv_json(&conv);
        data["linkKeys"] = json!(links);
        Ok(data)
    }

    /// One page of the list `me` sees, newest membership first (deleted ones stay hidden until
    /// a new message), each entry rendered by `entry` (given at most `MAX_LISTED_LINKS` members
    /// when `with_members`); a page stops early at the reply budget. `cursor`: the `next` of the
    /// previous page, none or empty for the first.
    pub async fn list_conversations(
        &self,
        me: &Identity,
        cursor: Option<&str>,
        limit: Option<usize>,
        with_members: bool,
        entry: impl Fn(&ConvSummary, Vec<SessionId>) -> Value,
    ) -> Result<ConvPage, ApiError> {
        let after = cursor.filter(|c| !c.is_empty()).map(convs::parse_cursor).transpose()?;
        let (list, mut next) = self
            .conversations_of(me, after.as_ref(), limit.unwrap_or(LIST_PAGE_DEFAULT))
            .await?;
        let mut budget = Budget::reply(list.len());
        let mut entries = Vec::with_capacity(list.len());
        let mut last_listed = None;
        for summary in list {
            let mut members = Vec::new();
            if with_members {
                members = self.directory.members(&me.app, &summary.conv.id).await?;
                members.truncate(convs::MAX_LISTED_LINKS);
            }
            let rendered = entry(&summary, members);
            if !budget.admit(&rendered) {
                // cut short by bytes: the next page starts after the last entry listed
                next = last_listed;
                break;
            }
            last_listed = Some(summary.cursor());
            entries.push(rendered);
        }
        let next = next.as_ref().map(convs::cursor_text);
        Ok(ConvPage { entries, next })
    }

    /// One page of the store's list for `me`, hidden ones left out, and where the next page
    /// starts when there may be one.
    async fn conversations_of(
        &self,
        me: &Identity,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<(Vec<ConvSummary>, Option<ListCursor>), ApiError> {
        let limit = limit.clamp(1, LIST_PAGE_MAX);
        let mut list = self.query.conversations_of(&me.app, &me.session, after, limit).await?;
        let next = (list.len() == limit)
            .then(|| list.last().map(ConvSummary::cursor))
            .flatten();
        list.retain(|summary| !summary.is_hidden());
        Ok((list, next))
    }

    /// Whether `me` deleted `conv` from its list (and no message came since); a conversation it
    /// is not in counts as hidden.
    async fn is_hidden(&self, me: &Identity, conv: &ConvId) -> Result<bool, ApiError> {
        let mut after = None;
        loop {
            let page = self
                .query
                .conversations_of(&me.app, &me.session, after.as_ref(), LIST_PAGE_MAX)
                .await?;
            if let Some(found) = page.iter().find(|summary| summary.conv.id == *conv) {
                return Ok(found.is_hidden());
            }
            match page.last() {
                Some(last) if page.len() == LIST_PAGE_MAX => after = Some(last.cursor()),
                _ => return Ok(true),
            }
        }
    }

    /// Hides `conv` from `me`'s list until a new message; members only.
    pub async fn hide_conversation(&self, me: &Identity, conv: &ConvId) -> Result<(), ApiError> {
        self.require_member(me, conv).await?;
        let last = self.log.last_seq(&me.app, conv).await?;
        self.query.hide_conversation(&me.app, &me.session, conv, last).await?;
        Ok(())
    }

    /// A conversation's details for a member: its last message, whether `me` hid it.
    pub async fn conversation_detail(&self, me: &Identity, conv_id: &ConvId) -> Result<Value, ApiError> {
        let conv = self.require_member(me, conv_id).await?;
        let last = self.query.latest_messages(&me.app, conv_id, 1).await?.pop();
        let hidden = self.is_hidden(me, conv_id).await?;
        Ok(json!({
            "ConversationID": conv.id,
            "LastMsgID": last.as_ref().map(|m| m.msg_id.to_string()).unwrap_or_default(),
            "LastSendTime": last.as_ref().map(|m| timefmt::rfc3339_nanos(m.send_time)).unwrap_or_default(),
            "IsDelete": hidden,
            "ConversationType": conv.conv_type,
            "LastSendSession": last.as_ref().map(|m| m.from.to_string()).unwrap_or_default(),
            "IsArchive": conv.archived,
        }))
    }

    /// The id of `conv`'s last message, empty when it has none; members only.
    pub async fn last_msg_id(&self, me: &Identity, conv: &ConvId) -> Result<String, ApiError> {
        self.require_member(me, conv).await?;
        let last = self.query.latest_messages(&me.app, conv, 1).await?.pop();
        Ok(last.map(|m| m.msg_id.to_string()).unwrap_or_default())
    }

    /// Whether `me` is a member of `conv`.
    pub async fn is_member(&self, me: &Identity, conv: &ConvId) -> Result<bool, ApiError> {
        Ok(self.directory.is_member(&me.app, conv, &me.session).await?)
    }
}

/// A member's request: it comes first and owns the conversation; a key names a group (a single
/// conversation's id is its pair's).
fn member_spec(me: &Identity, request: CreateRequest) -> Result<CreateSpec, ApiError> {
    let kind = convs::parse_kind(request.kind.as_deref())?;
    let members = convs::parse_members_after(vec![me.session.clone()], request.sessions)?;
    let conv_type = convs::parse_conv_type(&request.conv_type)?;
    let id = match (kind, request.id) {
        (ConvKind::Group, Some(key)) if !key.is_empty() => Some(ConvId::parse(key)?),
        _ => None,
    };
    Ok(CreateSpec {
        kind,
        conv_type,
        id,
        name: request.name.unwrap_or_default(),
        avatar: request.avatar.unwrap_or_default(),
        // member-created conversations are open unless asked
        open: request.open.unwrap_or(true),
        owner: me.session.clone(),
        members,
    })
}

/// `conversation.created` for the app's endpoints.
fn created_event(conv: &Conversation, members: &[SessionId]) -> herald_webhooks::events::Outgoing {
    use herald_webhooks::events::{CONVERSATION_CREATED, Lane, Outgoing};
    Outgoing {
        app: conv.app.clone(),
        id: format!("conv:{}", conv.id),
        kind: CONVERSATION_CREATED,
        lane: Lane::Conversation(conv.id.clone()),
        // before any of its events in the log (positions start at 1)
        order: 0,
        data: json!({
            "ConversationID": conv.id,
            "kind": if conv.kind == ConvKind::Single { "single" } else { "group" },
            "conversation_type": conv.conv_type,
            "name": conv.name,
            "avatar": conv.avatar,
            "owner": conv.owner,
            "open": conv.open,
            "members": members,
        }),
        created_at: conv.created_at,
        trace: herald_bus::trace::current_traceparent(),
    }
}

/// The app backend's request: at least one session, the first owns it.
fn app_spec(request: CreateRequest) -> Result<CreateSpec, ApiError> {
    if request.sessions.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ConversationNeedsMembers,
            "sessions may not be empty",
        ));
    }
    let members = convs::parse_members(request.sessions)?;
    Ok(CreateSpec {
        kind: convs::parse_kind(request.kind.as_deref())?,
        conv_type: convs::parse_conv_type(&request.conv_type)?,
        id: None,
        name: request.name.unwrap_or_default(),
        avatar: request.avatar.unwrap_or_default(),
        // closed unless asked
        open: request.open.unwrap_or(false),
        owner: members[0].clone(),
        members,
    })
}
