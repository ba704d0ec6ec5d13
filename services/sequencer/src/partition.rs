//! The loop that serves one owned partition: read commands, load what the batch needs, plan,
//! append (fenced), answer, publish, checkpoint.

use crate::plan::{ConvKey, ConvState, Known, key_of, plan_batch};
use crate::{ROLE, SequencerConfig};
use herald_bus::consumer::{self, ConsumerSpec, Interrupted, PartitionConsumer};
use herald_bus::ownership::Grant;
use herald_bus::{Bus, BusError, Log, LogEntry, LogReader, Outgoing, Payload};
use herald_protocol::bus::{Ack, Action, Command, EventBody, GatewayMessage, Reply, ReplyTo};
use herald_protocol::error_code::WireError;
use herald_protocol::{AppId, ConvId, GatewayId, MessageRecord, MsgId, SessionId, timefmt};
use herald_store::{AppSettings, Change, Fence, IdempotentLookup, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("lease no longer valid")]
    LeaseLost,
}

impl From<ServeError> for Interrupted {
    fn from(err: ServeError) -> Self {
        match err {
            ServeError::Store(StoreError::Fenced { .. }) | ServeError::LeaseLost => {
                Interrupted::Fenced(err.to_string())
            }
            other => Interrupted::Failed(other.to_string()),
        }
    }
}

pub async fn serve(store: Arc<dyn Store>, bus: Arc<dyn Bus>, config: Arc<SequencerConfig>, grant: Grant) {
    let spec = ConsumerSpec {
        role: ROLE,
        log: Log::Commands,
        max_batch: config.max_batch,
    };
    let mut partition = Partition::new(store.as_ref(), bus.as_ref(), &config, &grant);
    consumer::consume(bus.as_ref(), spec, &grant, &mut partition).await;
}

struct Partition<'a> {
    store: &'a dyn Store,
    bus: &'a dyn Bus,
    config: &'a SequencerConfig,
    grant: &'a Grant,
    fence: Fence,
    states: HashMap<ConvKey, ConvState>,
    settings: HashMap<AppId, (Instant, AppSettings)>,
    ids: snowflaked::Generator,
}

/// The metric handles every batch touches, resolved on first use (the process installs its
/// recorder before it serves): a registry lookup per call and batch otherwise.
struct Meters {
    accepted: metrics::Counter,
    duplicate: metrics::Counter,
    rejected: metrics::Counter,
    batch_seconds: metrics::Histogram,
    append_seconds: metrics::Histogram,
    appends: metrics::Counter,
    append_batch_size: metrics::Histogram,
    events_published: metrics::Counter,
}

static METERS: std::sync::LazyLock<Meters> = std::sync::LazyLock::new(|| Meters {
    accepted: metrics::counter!("herald_commands_total", "outcome" => "accepted"),
    duplicate: metrics::counter!("herald_commands_total", "outcome" => "duplicate"),
    rejected: metrics::counter!("herald_commands_total", "outcome" => "rejected"),
    batch_seconds: metrics::histogram!("herald_sequence_batch_seconds"),
    append_seconds: metrics::histogram!("herald_append_seconds"),
    appends: metrics::counter!("herald_appends_total"),
    append_batch_size: metrics::histogram!("herald_append_batch_size"),
    events_published: metrics::counter!("herald_events_published_total"),
});

/// App settings (anti-spam, friendship) are re-read this often.
const SETTINGS_TTL: Duration = Duration::from_secs(2);

impl PartitionConsumer for Partition<'_> {
    async fn begin(&mut self) -> Result<(), Interrupted> {
        // what an earlier attempt cached may be ahead of the store (a failed append)
        self.states.clear();
        self.settings.clear();
        // claim before reading any head: from here on, an older owner cannot append
        self.store.claim_fence(&self.fence).await.map_err(ServeError::from)?;
        Ok(())
    }

    async fn handle(&mut self, reader: &LogReader, batch: Vec<LogEntry>) -> Result<(), Interrupted> {
        Ok(self.process(reader, batch).await?)
    }
}

/// Each event's dedupe id: its command's position and its index among that command's events,
/// which a replay reproduces whatever batch the command lands in (an index within the batch
/// would not, and a replayed event would then be published twice).
fn event_dedupe_ids(events: &[(u64, herald_protocol::bus::Event)]) -> Vec<String> {
    let mut index = 0;
    let mut previous = None;
    events
        .iter()
        .map(|(position, event)| {
            index = if previous == Some(*position) { index + 1 } else { 0 };
            previous = Some(*position);
            event.dedupe_id(*position, index)
        })
        .collect()
}

/// Which of a batch's events may be in the events log already: a stored message's event
/// published again (a retried or replayed send: the planner's `reemits`), and the other events
/// of replayed commands (an owner that crashed between its append and its publish may have
/// published them). A message this batch stores is new, replayed command or not: the backlog a
/// new owner finds is published packed.
struct Repeats<'a> {
    replay_through: u64,
    reemits: &'a [usize],
}

impl Repeats<'_> {
    fn may_be_logged(&self, index: usize, position: u64, event: &herald_protocol::bus::Event) -> bool {
        match &event.body {
            EventBody::Message(_) => self.reemits.binary_search(&index).is_ok(),
            _ => position <= self.replay_through,
        }
    }
}

impl<'a> Partition<'a> {
    fn new(store: &'a dyn Store, bus: &'a dyn Bus, config: &'a SequencerConfig, grant: &'a Grant) -> Self {
        Self {
            store,
            bus,
            config,
            grant,
            fence: Fence {
                scope: format!("{}/{ROLE}/{}", bus.scope(), grant.partition),
                epoch: grant.epoch,
            },
            states: HashMap::new(),
            settings: HashMap::new(),
            ids: snowflaked::Generator::new(grant.partition as u16),
        }
    }

    /// Sequences one batch end to end.
    async fn process(&mut self, reader: &LogReader, entries: Vec<LogEntry>) -> Result<(), ServeError> {
        let started = Instant::now();
        let (commands, spans) = self.decode(&entries);
        let known = self.known(&commands, reader).await?;
        let ids = &mut self.ids;
        let mut plan = plan_batch(
            commands,
            &mut self.states,
            known,
            || ids.generate::<u64>(),
            timefmt::now_nanos(),
        );
        METERS.accepted.increment(plan.accepted as u64);
        METERS.duplicate.increment(plan.duplicates as u64);
        METERS.rejected.increment(plan.rejected as u64);
        let own_changes = plan.changes.len();
        if let Some(with_batch) = &self.config.with_batch
            && !plan.events.is_empty()
            && with_batch.wants(&plan.events).await?
        {
            let events: Vec<(String, &herald_protocol::bus::Event, Option<String>)> = plan
                .events
                .iter()
                .zip(event_dedupe_ids(&plan.events))
                .map(|((position, event), id)| {
                    let trace = spans.get(position).and_then(herald_bus::trace::traceparent_of);
                    (id, event, trace)
                })
                .collect();
            let extra = with_batch.changes(self.grant.partition, &events).await?;
            plan.changes.extend(extra);
        }
        if !plan.changes.is_empty() {
            self.append(&plan.changes, &spans).await?;
        }
        if let Some(with_batch) = &self.config.with_batch
            && plan.changes.len() > own_changes
        {
            with_batch.stored(&plan.changes[own_changes..]);
        }
        let repeats = Repeats {
            replay_through: reader.replay_through(),
            reemits: &plan.reemits,
        };
        self.publish(plan.events, &spans, repeats).await?;
        // answered only once the events are in the log: an acknowledged message is stored and
        // on its way to every member, and while the events log is unavailable nothing is
        // acknowledged (the senders retry with their keys and get the original answer)
        self.reply(plan.replies).await;
        METERS.batch_seconds.record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The batch's commands with their positions, and a span per traced command continuing the
    /// gateway's trace; what does not decode is logged and skipped.
    fn decode(&self, entries: &[LogEntry]) -> (Vec<(u64, Command)>, HashMap<u64, tracing::Span>) {
        let mut commands = Vec::with_capacity(entries.len());
        let mut spans = HashMap::new();
        for entry in entries {
            match entry.payload.clone().decode::<Command>() {
                Ok(command) => {
                    if let Some(parent) = entry.trace.as_deref() {
                        let span =
                            tracing::info_span!("sequencer.command", kind = command.kind(), conv = %command.conv);
                        herald_bus::trace::continue_trace(&span, Some(parent));
                        spans.insert(entry.position, span);
                    }
                    commands.push((entry.position, command));
                }
                Err(err) => {
                    metrics::counter!("herald_commands_total", "outcome" => "undecodable").increment(1);
                    tracing::error!(partition = self.grant.partition, position = entry.position, error = %err, "undecodable command skipped");
                }
            }
        }
        (commands, spans)
    }

    /// Everything planning needs from the store for these commands (and the cache kept current).
    async fn known(&mut self, commands: &[(u64, Command)], reader: &LogReader) -> Result<Known, StoreError> {
        self.load_states(commands).await?;
        self.load_cursors(commands).await?;
        let settings = self.app_settings(commands).await?;
        let friends = self.find_friends(commands, &settings).await?;
        Ok(Known {
            originals: self.find_originals(commands).await?,
            by_id: self.find_recalled(commands).await?,
            settings,
            friends,
            replay_through: reader.replay_through(),
        })
    }

    /// One fenced write of the batch's changes, if the lease still holds.
    async fn append(&mut self, changes: &[Change], spans: &HashMap<u64, tracing::Span>) -> Result<(), ServeError> {
        if !self.grant.is_valid() {
            return Err(ServeError::LeaseLost);
        }
        let append_span = match spans.values().next() {
            Some(first) => tracing::info_span!(parent: first, "store.append", changes = changes.len()),
            None => tracing::Span::none(),
        };
        for other in spans.values().skip(1) {
            herald_bus::trace::link(&append_span, herald_bus::trace::traceparent_of(other).as_deref());
        }
        let append_started = Instant::now();
        let applied = self.store.apply(&self.fence, changes).instrument(append_span).await;
        METERS.append_seconds.record(append_started.elapsed().as_secs_f64());
        if let Err(err) = applied {
            // our in-memory state may be ahead of the store now: forget it
            self.states.clear();
            metrics::counter!("herald_append_errors_total").increment(1);
            return Err(err.into());
        }
        let appended = changes.iter().filter(|c| matches!(c, Change::Message(_))).count();
        METERS.appends.increment(appended as u64);
        METERS.append_batch_size.record(changes.len() as f64);
        Ok(())
    }

    /// Publishes the batch's events, pipelined, each under its replay-stable dedupe id; those
    /// that may be in the log already are marked so that the log compares them on their own.
    async fn publish(
        &self,
        events: Vec<(u64, herald_protocol::bus::Event)>,
        spans: &HashMap<u64, tracing::Span>,
        repeats: Repeats<'_>,
    ) -> Result<(), ServeError> {
        let dedupe_ids = event_dedupe_ids(&events);
        let outgoing: Vec<Outgoing> = events
            .into_iter()
            .zip(dedupe_ids)
            .enumerate()
            .map(|(index, ((position, event), dedupe_id))| Outgoing {
                partition: self.grant.partition,
                dedupe_id,
                repeat: repeats.may_be_logged(index, position, &event),
                payload: Payload::value(event),
                trace: spans.get(&position).and_then(herald_bus::trace::traceparent_of),
            })
            .collect();
        let published = outgoing.len() as u64;
        for outcome in self.bus.publish(Log::Events, outgoing).await {
            outcome?;
        }
        METERS.events_published.increment(published);
        Ok(())
    }

    /// Loads the state of every conversation the batch touches and the cache lacks.
    async fn load_states(&mut self, commands: &[(u64, Command)]) -> Result<(), StoreError> {
        let mut missing: HashSet<(&AppId, &ConvId)> = HashSet::new();
        for (_, command) in commands {
            if !self.states.contains_key(&key_of(command)) {
                missing.insert((&command.app, &command.conv));
            }
        }
        if self.states.len() + missing.len() > self.config.max_cached_conversations {
            // bounded: start over rather than grow; state is re-read from the store
            self.states.clear();
        }
        let store = self.store;
        let loads = missing.iter().map(|(app, conv)| async move {
            let Some(conversation) = store.conversation(app, conv).await? else {
                return Ok(None);
            };
            let members = store.members(app, conv).await?;
            let last_seq = store.last_seq(app, conv).await?;
            let single = conversation.kind == herald_protocol::ConvKind::Single;
            let mut state = ConvState::new(conversation, members, last_seq);
            if single {
                state.sent_by = store.sender_counts(app, conv).await?.into_iter().collect();
            }
            Ok::<_, StoreError>(Some(state))
        });
        for state in futures::future::try_join_all(loads).await?.into_iter().flatten() {
            self.states.insert(state.key(), state);
        }
        Ok(())
    }

    /// Loads the read cursors the batch's reads need.
    async fn load_cursors(&mut self, commands: &[(u64, Command)]) -> Result<(), StoreError> {
        for (_, command) in commands {
            if let Action::Read { session, .. } = &command.action
                && let Some(state) = self.states.get_mut(&key_of(command))
                && !state.read.contains_key(session)
            {
                let cursor = self.store.read_cursor(&command.app, &command.conv, session).await?;
                state.read.insert(session.clone(), cursor);
            }
        }
        Ok(())
    }

    /// Stored messages carrying any of the batch's idempotency keys: one store call per batch.
    async fn find_originals(&self, commands: &[(u64, Command)]) -> Result<Vec<MessageRecord>, StoreError> {
        let mut keys: HashMap<(&AppId, &ConvId), Vec<(SessionId, herald_protocol::Text)>> = HashMap::new();
        for (_, command) in commands {
            if let Action::Send(send) = &command.action
                && self.states.contains_key(&key_of(command))
            {
                keys.entry((&command.app, &command.conv))
                    .or_default()
                    .push((send.from.clone(), send.idempotency_key.clone()));
            }
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let lookups: Vec<IdempotentLookup> = keys
            .into_iter()
            .map(|((app, conv), keys)| IdempotentLookup {
                app: app.clone(),
                conv: conv.clone(),
                keys,
            })
            .collect();
        self.store.find_idempotent_in(lookups).await
    }

    /// The settings of the apps in the batch, from a cache at most `SETTINGS_TTL` old.
    async fn app_settings(&mut self, commands: &[(u64, Command)]) -> Result<HashMap<AppId, AppSettings>, StoreError> {
        let mut settings = HashMap::new();
        for (_, command) in commands {
            if settings.contains_key(&command.app) {
                continue;
            }
            let cached = self
                .settings
                .get(&command.app)
                .filter(|(at, _)| at.elapsed() < SETTINGS_TTL);
            let value = match cached {
                Some((_, value)) => value.clone(),
                None => {
                    let value = self
                        .store
                        .app(&command.app)
                        .await?
                        .map(|a| a.settings)
                        .unwrap_or_default();
                    if self.settings.len() > 10_000 {
                        self.settings.clear();
                    }
                    self.settings
                        .insert(command.app.clone(), (Instant::now(), value.clone()));
                    value
                }
            };
            settings.insert(command.app.clone(), value);
        }
        Ok(settings)
    }

    /// Which 1:1 senders are friends with their peer, where the app requires it.
    async fn find_friends(
        &self,
        commands: &[(u64, Command)],
        settings: &HashMap<AppId, AppSettings>,
    ) -> Result<HashSet<(AppId, SessionId, SessionId)>, StoreError> {
        let mut friends = HashSet::new();
        let mut asked = HashSet::new();
        for (_, command) in commands {
            let Action::Send(send) = &command.action else { continue };
            if !settings.get(&command.app).is_some_and(|s| s.require_friendship) {
                continue;
            }
            let Some(state) = self.states.get(&key_of(command)) else {
                continue;
            };
            if state.conv.kind != herald_protocol::ConvKind::Single {
                continue;
            }
            let Some(peer) = state.members.iter().find(|m| **m != send.from) else {
                continue;
            };
            let pair = (command.app.clone(), send.from.clone(), peer.clone());
            if asked.insert(pair.clone()) && self.store.are_friends(&command.app, &send.from, peer).await? {
                friends.insert(pair);
            }
        }
        Ok(friends)
    }

    /// The messages the batch recalls.
    async fn find_recalled(
        &self,
        commands: &[(u64, Command)],
    ) -> Result<HashMap<(ConvKey, MsgId), MessageRecord>, StoreError> {
        let mut found = HashMap::new();
        for (_, command) in commands {
            if let Action::Recall { msg_id, .. } = &command.action
                && let Some(record) = self.store.message_by_id(&command.app, &command.conv, *msg_id).await?
            {
                found.insert((key_of(command), *msg_id), record);
            }
        }
        Ok(found)
    }

    /// One message per waiting gateway with all of its answers.
    async fn reply(&self, replies: Vec<(ReplyTo, Result<Reply, WireError>)>) {
        let mut by_gateway: HashMap<GatewayId, Vec<Ack>> = HashMap::new();
        for (reply_to, outcome) in replies {
            by_gateway.entry(reply_to.gateway).or_default().push(Ack {
                request: reply_to.request,
                outcome,
            });
        }
        for (gateway, acks) in by_gateway {
            if let Err(err) = herald_bus::send_gateway_message(self.bus, &gateway, GatewayMessage::Acks(acks)).await {
                // the client retries with its key and gets the original answer
                tracing::warn!(%gateway, error = %err, "could not answer gateway");
            }
        }
    }
}

#[cfg(test)]
mod tests;
