//! Conversation actions: `conv-create`, `conv-list`, `conv-delete` and the membership changes.

use super::*;

impl ConnCtx {
    pub(super) async fn conv_create(&self, p: wire::ConvCreate) -> Result<Answer, ApiError> {
        let kind = convs::parse_kind(p.conv_type.as_deref())?;
        let members = convs::parse_members_after(vec![self.me.session.clone()], p.link_keys)?;
        let spec = CreateSpec {
            kind,
            conv_type: convs::parse_conv_type(&p.conversation_type)?,
            // a single conversation's id is its pair's; a key names a group
            id: match (kind, p.conv_key) {
                (ConvKind::Group, Some(key)) if !key.is_empty() => Some(conv_id(key)?),
                _ => None,
            },
            name: p.conv_name.unwrap_or_default(),
            avatar: p.conv_avt.unwrap_or_default(),
            open: p.open.unwrap_or(true),
            owner: self.me.session.clone(),
            members,
        };
        let id = convs::create(&self.shared, &self.me.app, spec).await?;
        let conv = self
            .shared
            .store
            .conversation(&self.me.app, &id)
            .await?
            .ok_or_else(|| ApiError::internal("created conversation missing"))?;
        let links = self.shared.store.members(&self.me.app, &id).await?;
        let mut data = convs::conv_json(&conv);
        data["linkKeys"] = json!(links);
        Ok(Answer::Now(data))
    }

    /// Without `cursor` or `limit` the first page as a bare array (the original shape); with
    /// either (a null or empty `cursor` is the first page), `{convs, next}`.
    pub(super) async fn conv_list(&self, p: wire::ConvList) -> Result<Answer, ApiError> {
        let paged = p.paged();
        let after = p
            .cursor
            .flatten()
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(convs::parse_cursor)
            .transpose()?;
        let limit = p.limit.flatten().unwrap_or(convs::LIST_PAGE_DEFAULT);
        let (list, mut next) = convs::list(&self.shared, &self.me, after.as_ref(), limit).await?;
        let mut budget = Budget::reply(list.len());
        let mut out = Vec::with_capacity(list.len());
        let mut last_listed = None;
        for summary in list {
            let mut links = self.shared.store.members(&self.me.app, &summary.conv.id).await?;
            links.truncate(convs::MAX_LISTED_LINKS);
            let entry = json!({
                "convId": summary.conv.id,
                "conv": convs::conv_json(&summary.conv),
                "links": links,
                "linkCount": summary.member_count,
                "lastMsg": summary.last.as_ref().map(|m| m.to_wire()),
                "unreadNum": summary.unread(),
            });
            if !budget.admit(&entry) {
                // cut short by bytes: the next page starts after the last entry listed
                next = last_listed;
                break;
            }
            last_listed = Some(summary.cursor());
            out.push(entry);
        }
        if !paged {
            return Ok(Answer::Now(Value::Array(out)));
        }
        let next = next.as_ref().map(convs::cursor_text);
        Ok(Answer::Now(json!({"convs": out, "next": next})))
    }

    pub(super) async fn conv_delete(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let last = self.shared.store.last_seq(&self.me.app, &conv).await?;
        self.shared
            .store
            .hide_conversation(&self.me.app, &self.me.session, &conv, last)
            .await?;
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
        let command = self.api().membership(conv.clone(), change).await?;
        self.submit(command, reply, Shape::Conv(conv)).await
    }
}
