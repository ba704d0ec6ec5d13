//! Message actions: `msg-im`, `msg-read`, `msg-listHistory`, `msg-delete` and `sync`.

use super::*;

impl ConnCtx {
    pub(super) async fn msg_im(&self, p: wire::MsgIm, reply: Later<'_>) -> Result<Answer, ApiError> {
        let request = SendRequest {
            conv: conv_id(p.conv_id)?,
            msg_type: msg_type(&p.msg_type)?,
            status: 0,
            content: p.msg_content,
            client_msg_id: p.msg_key,
        };
        let command = commands::send(&self.shared, &self.me, request).await?;
        self.submit(command, reply, Shape::Message).await
    }

    pub(super) async fn msg_read(&self, p: wire::MsgRead, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        let action = Action::Read {
            session: self.me.session.clone(),
            seq: p.seq,
        };
        let command = commands::command(&self.me, conv.clone(), action);
        self.submit(command, reply, Shape::Read(conv)).await
    }

    pub(super) async fn list_history(&self, p: wire::ListHistory) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let limit = p.limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
        let newest = |last: u64| match p.before_seq {
            Some(before) => before.saturating_sub(1).min(last),
            None => last.saturating_sub(p.offset.unwrap_or(0)),
        };
        let page = self.api().newest_page(&conv, newest, limit).await?;
        let mut msgs = page.msgs;
        msgs.reverse();
        Ok(Answer::Now(json!({"convId": conv, "msgs": msgs, "hasMore": page.cut})))
    }

    pub(super) async fn msg_delete(&self, p: wire::MsgDelete, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let msg_id = p
            .msg_id
            .msg_id()
            .map_err(|_| ApiError::bad_input("msgId must be a message id string"))?;
        convs::require_member(&self.shared, &self.me, &conv).await?;
        if p.for_everyone {
            let action = Action::Recall {
                session: self.me.session.clone(),
                msg_id,
            };
            let command = commands::command(&self.me, conv.clone(), action);
            return self.submit(command, reply, Shape::Conv(conv)).await;
        }
        let seq = self.api().seq_of(&conv, msg_id).await?;
        self.shared
            .store
            .hide_message(&self.me.app, &self.me.session, &conv, seq)
            .await?;
        Ok(Answer::Now(
            json!({"convId": conv, "msgId": msg_id, "seq": seq, "forEveryone": false}),
        ))
    }
    /// What follows each `lastSeq`, in pages (contract §5): conversations in id order, each
    /// contiguous from its `lastSeq`, until `SYNC_MAX_MSGS` messages or the reply budget; a
    /// conversation cut short (or not reached) says `hasMore` and continues from its last `Seq`.
    pub(super) async fn sync(&self, p: wire::Sync) -> Result<Answer, ApiError> {
        if p.convs.len() > SYNC_MAX_CONVS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("at most {SYNC_MAX_CONVS} conversations per sync"),
            ));
        }
        let mut asked = Vec::with_capacity(p.convs.len());
        for (conv, after) in p.convs {
            let conv = conv_id(conv)?;
            convs::require_member(&self.shared, &self.me, &conv).await?;
            asked.push((conv, after));
        }
        let mut budget = Budget::reply(SYNC_MAX_MSGS);
        let mut out = serde_json::Map::new();
        for (conv, after) in asked {
            let last = self.shared.store.last_seq(&self.me.app, &conv).await?;
            let page = history::page_from_oldest(
                &self.shared,
                &self.me,
                &conv,
                after.saturating_add(1),
                last,
                &mut budget,
            )
            .await?;
            let reached = page.msgs.last().map_or(after, |m| m.seq);
            out.insert(
                conv.to_string(),
                json!({"msgs": page.msgs, "lastSeq": last, "hasMore": reached < last}),
            );
        }
        Ok(Answer::Now(json!({"convs": out})))
    }
}
