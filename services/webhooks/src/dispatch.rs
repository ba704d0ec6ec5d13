//! The events log's webhook events: another consumer of each partition (beside delivery), with
//! its own checkpoint, that turns the events of apps with endpoints into queued jobs
//! (`message.created`, `message.recalled`, `members.changed`, `conversation.archived`,
//! `offline_push` for the members with no live connection, `bot.message` for bot members).
//! Queuing is idempotent (one job per endpoint and event id), so a batch replayed after a crash
//! queues nothing twice.

use crate::directory::AppView;
use crate::events::{self, Lane, Outgoing};
use herald_bus::consumer::{Interrupted, PartitionConsumer};
use herald_bus::{Bus, LogEntry, LogReader, RouteTable};
use herald_protocol::bus::{Event, EventBody};
use herald_protocol::{MessageRecord, SessionId, codec};
use herald_store::{DirectoryStore, WebhookEndpoint, WebhookStore};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tracing::Instrument;

/// One partition's webhook events.
pub struct Dispatch<'a> {
    pub directory: &'a dyn DirectoryStore,
    pub webhooks: &'a dyn WebhookStore,
    /// The apps' endpoints and bots, shared by the process's partitions.
    pub views: &'a crate::directory::Directory,
    /// Wakes this partition's senders once jobs are queued.
    pub wake: &'a tokio::sync::Notify,
    pub bus: &'a dyn Bus,
    pub partition: u32,
    pub routes: Option<Arc<RouteTable>>,
}

fn failed(err: impl std::fmt::Display) -> Interrupted {
    Interrupted::Failed(err.to_string())
}

impl PartitionConsumer for Dispatch<'_> {
    async fn begin(&mut self) -> Result<(), Interrupted> {
        self.routes = Some(self.bus.route_table().await?);
        Ok(())
    }

    async fn handle(&mut self, _reader: &LogReader, entries: Vec<LogEntry>) -> Result<(), Interrupted> {
        let events: Vec<(u64, Event, Option<&str>)> = entries
            .iter()
            .filter_map(|entry| {
                let event = codec::decode::<Event>(&entry.payload).ok()?;
                Some((entry.position, event, entry.trace.as_deref()))
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let views = self.views.views().await.map_err(failed)?;
        let mut outgoing = Vec::new();
        for (position, event, trace) in &events {
            let Some(view) = views.get(&event.app).filter(|v| !v.endpoints.is_empty()) else {
                continue;
            };
            // the message's trace goes on: its webhook events are queued in a span of it
            let span = tracing::info_span!("webhooks.queue", partition = self.partition, position);
            herald_bus::trace::continue_trace(&span, *trace);
            let trace = herald_bus::trace::traceparent_of(&span);
            let made = self.outgoing(view, *position, event).instrument(span).await?;
            outgoing.extend(made.into_iter().map(|o| Outgoing {
                trace: trace.clone(),
                ..o
            }));
        }
        if outgoing.is_empty() {
            return Ok(());
        }
        // the endpoints of the apps with events here, not every app's
        let mut apps: Vec<&herald_protocol::AppId> = outgoing.iter().map(|o| &o.app).collect();
        apps.sort();
        apps.dedup();
        let endpoints: Vec<WebhookEndpoint> = apps
            .into_iter()
            .filter_map(|app| views.get(app))
            .flat_map(|v| v.endpoints.iter().cloned())
            .collect();
        let jobs = events::jobs(&outgoing, &endpoints, self.bus.partitions(), events::now_ms());
        metrics::counter!("herald_webhook_events_queued_total").increment(jobs.len() as u64);
        self.webhooks.enqueue(&jobs).await.map_err(failed)?;
        self.wake.notify_waiters();
        Ok(())
    }
}

impl Dispatch<'_> {
    /// The webhook events of one log event.
    async fn outgoing(&self, view: &AppView, position: u64, event: &Event) -> Result<Vec<Outgoing>, Interrupted> {
        let at = |kind: &'static str, id: String, data: Value, created_at: i64| Outgoing {
            app: event.app.clone(),
            id,
            kind,
            lane: Lane::Conversation(event.conv.clone()),
            order: position as i64,
            data,
            created_at,
            trace: None,
        };
        let now = herald_protocol::timefmt::now_nanos();
        let mut out = Vec::new();
        match &event.body {
            EventBody::Message(record) => {
                let id = |kind: &str| format!("{kind}:{}", record.msg_id);
                let message = serde_json::to_value(record.to_wire()).unwrap_or(Value::Null);
                if view.wants(events::MESSAGE_CREATED) {
                    out.push(at(
                        events::MESSAGE_CREATED,
                        id("msg"),
                        message.clone(),
                        record.send_time,
                    ));
                }
                if view.wants(events::OFFLINE_PUSH) || view.wants(events::BOT_MESSAGE) {
                    let members = self.directory.members(&event.app, &event.conv).await.map_err(failed)?;
                    if view.wants(events::OFFLINE_PUSH) {
                        let offline = self.offline(record, &members);
                        if !offline.is_empty() {
                            let data = json!({"message": message, "recipients": offline});
                            out.push(at(events::OFFLINE_PUSH, id("offline"), data, record.send_time));
                        }
                    }
                    for bot in members.iter().filter(|m| view.bots.contains(*m) && **m != record.from) {
                        let data = json!({"bot": bot, "message": message});
                        let bot_id = format!("bot:{}:{bot}", record.msg_id);
                        out.push(at(events::BOT_MESSAGE, bot_id, data, record.send_time));
                    }
                }
            }
            EventBody::Recalled(record) => {
                let data = serde_json::to_value(record.to_wire()).unwrap_or(Value::Null);
                let id = format!("recall:{}", record.msg_id);
                out.push(at(events::MESSAGE_RECALLED, id, data, now));
            }
            EventBody::MembersAdded { sessions, by } | EventBody::MembersRemoved { sessions, by } => {
                let change = if matches!(event.body, EventBody::MembersAdded { .. }) {
                    "added"
                } else {
                    "removed"
                };
                let data = json!({"ConversationID": event.conv, change: sessions, "by": by});
                out.push(at(events::MEMBERS_CHANGED, self.log_id(position), data, now));
            }
            EventBody::Archived { archived } => {
                let data = json!({"ConversationID": event.conv, "archived": archived});
                out.push(at(events::CONVERSATION_ARCHIVED, self.log_id(position), data, now));
            }
            EventBody::Read { .. } => {}
        }
        Ok(out.into_iter().filter(|o| view.wants(o.kind)).collect())
    }

    /// An id for an event that has no message id: its place in this bus's events log (the bus's
    /// scope names the log: an in-process log starts over with each process).
    fn log_id(&self, position: u64) -> String {
        format!("evt:{}:{}:{position}", self.bus.scope(), self.partition)
    }

    /// The members other than the sender with no live connection on any gateway.
    fn offline(&self, record: &MessageRecord, members: &[SessionId]) -> Vec<SessionId> {
        let others: Vec<&SessionId> = members.iter().filter(|m| **m != record.from).collect();
        let Some(routes) = &self.routes else {
            return others.into_iter().cloned().collect();
        };
        let online: HashSet<SessionId> = routes
            .plan(&record.app, others.iter().copied())
            .into_values()
            .flatten()
            .collect();
        others.into_iter().filter(|m| !online.contains(*m)).cloned().collect()
    }
}
