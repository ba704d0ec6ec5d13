//! Message actions: `msg-im`, `msg-read`, `msg-readers`, `msg-listHistory`, `msg-delete` and
//! `sync`.

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
        let command = self.api.send(&self.me, request).await?;
        self.submit(command, reply, Shape::Message).await
    }

    pub(super) async fn msg_read(&self, p: wire::MsgRead, reply: Later<'_>) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let command = self.api.read(&self.me, conv.clone(), p.seq).await?;
        self.submit(command, reply, Shape::Read(conv)).await
    }

    /// The other members' read cursors (read receipts), or `receipts: false` for a conversation
    /// too large to keep them.
    pub(super) async fn msg_readers(&self, p: wire::ConvRef) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let readers = self.api.readers(&self.me, &conv).await?;
        let receipts = readers.is_some();
        let readers: Vec<Value> = readers
            .unwrap_or_default()
            .into_iter()
            .map(|(session, seq)| json!({"linkKey": session, "seq": seq}))
            .collect();
        Ok(Answer::Now(
            json!({"convId": conv, "receipts": receipts, "readers": readers}),
        ))
    }

    pub(super) async fn list_history(&self, p: wire::ListHistory) -> Result<Answer, ApiError> {
        let conv = conv_id(p.conv_id)?;
        let limit = p.limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
        let newest = |last: u64| match p.before_seq {
            Some(before) => before.saturating_sub(1).min(last),
            None => last.saturating_sub(p.offset.unwrap_or(0)),
        };
        let page = self.api.newest_page(&self.me, &conv, newest, limit).await?;
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
        if p.for_everyone {
            let command = self.api.recall(&self.me, conv.clone(), msg_id).await?;
            return self.submit(command, reply, Shape::Conv(conv)).await;
        }
        let seq = self.api.hide_message(&self.me, &conv, msg_id).await?;
        Ok(Answer::Now(
            json!({"convId": conv, "msgId": msg_id, "seq": seq, "forEveryone": false}),
        ))
    }

    pub(super) async fn sync(&self, p: wire::Sync) -> Result<Answer, ApiError> {
        Ok(Answer::Now(self.api.sync(&self.me, p.convs).await?))
    }
}
