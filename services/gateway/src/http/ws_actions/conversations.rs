//! Conversation actions: `conv-create`, `conv-list`, `conv-delete` and the membership changes.

use super::*;
use crate::conversations as convs;

impl ConnCtx {
    pub(super) async fn conv_create(&self, p: wire::ConvCreate) -> Result<Answer, ApiError> {
        let request = CreateRequest {
            kind: p.conv_type,
            conv_type: p.conversation_type,
            sessions: p.link_keys,
            id: p.conv_key,
            name: p.conv_name,
            avatar: p.conv_avt,
            open: p.open,
        };
        let id = self.api.create_conversation(Creator::Member(&self.me), request).await?;
        Ok(Answer::Now(
            self.api.conversation_with_members(&self.me.app, &id).await?,
        ))
    }

    /// Without `cursor` or `limit` the first page as a bare array (the original shape); with
    /// either (a null or empty `cursor` is the first page), `{convs, next}`.
    pub(super) async fn conv_list(&self, p: wire::ConvList) -> Result<Answer, ApiError> {
        let paged = p.paged();
        let cursor = p.cursor.flatten();
        let entry = |summary: &herald_store::ConvSummary, links: Vec<SessionId>| {
            json!({
                "convId": summary.conv.id,
                "conv": convs::conv_json(&summary.conv),
                "links": links,
                "linkCount": summary.member_count,
                "lastMsg": summary.last.as_ref().map(|m| m.to_wire()),
                "unreadNum": summary.unread(),
            })
        };
        let page = self
            .api
            .list_conversations(&self.me, cursor.as_deref(), p.limit.flatten(), true, entry)
            .await?;
        if !paged {
            return Ok(Answer::Now(Value::Array(page.entries)));
        }
        Ok(Answer::Now(json!({"convs": page.entries, "next": page.next})))
    }

    pub(super) async fn conv_delete(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        self.api.hide_conversation(&self.me, &conv).await?;
        Ok(Answer::Now(json!({"convId": conv})))
    }

    pub(super) async fn conv_members(
        &self,
        change: Membership,
        p: wire::ConvLinks,
        reply: Later<'_>,
    ) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let me = self.me.session.clone();
        let links = || -> Result<Vec<SessionId>, ApiError> {
            let links = sessions(p.link_keys)?;
            if links.is_empty() {
                return Err(ApiError::bad_input("linkKeys may not be empty"));
            }
            Ok(links)
        };
        let change = match change {
            Membership::Join => MembersCommand::Join { session: me },
            Membership::Leave => MembersCommand::Leave { session: me },
            Membership::Invite => MembersCommand::Invite {
                by: me,
                sessions: links()?,
            },
            Membership::Remove => MembersCommand::Remove {
                by: me,
                sessions: links()?,
            },
        };
        let command = self.api.membership(&self.me, conv.clone(), change).await?;
        self.submit(command, reply, Shape::Conv(conv)).await
    }
}
