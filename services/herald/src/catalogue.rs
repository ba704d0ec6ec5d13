//! The catalogue of Herald's Prometheus metrics: every `herald_*` series any role exposes, its
//! type, labels and meaning. Registered (described, and counters and gauges created at zero) at
//! start, so dashboards and alerts see every series before the first event. Label values are
//! bounded: no per-session or per-conversation labels.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

pub const CATALOGUE: &[Metric] = &[
    // gateway
    metric(
        "herald_connections",
        Gauge,
        &["protocol"],
        "Open client connections by protocol (ws, notify_ws, sse, poll).",
    ),
    metric(
        "herald_http_requests_total",
        Counter,
        &["route", "status"],
        "HTTP requests by route template and status code.",
    ),
    metric(
        "herald_http_request_seconds",
        Histogram,
        &["route"],
        "HTTP request latency by route template.",
    ),
    metric("herald_ws_requests_total", Counter, &[], "Requests received on /ws."),
    metric(
        "herald_request_errors_total",
        Counter,
        &["code"],
        "Requests answered with an error, by Herald error code (10008 rate limited, 10009 spam, 10004 not a member, ...).",
    ),
    metric(
        "herald_commands_in_total",
        Counter,
        &["kind"],
        "Commands accepted by gateways for sequencing, by kind (send, read, members, archive, recall).",
    ),
    metric(
        "herald_publish_batch_size",
        Histogram,
        &[],
        "Commands per pipelined publish to the commands log.",
    ),
    metric(
        "herald_commands_published_total",
        Counter,
        &[],
        "Commands stored in the commands log.",
    ),
    metric(
        "herald_commands_deduplicated_total",
        Counter,
        &[],
        "Sends the commands log dropped as retries of a key it already holds.",
    ),
    metric(
        "herald_commands_republished_total",
        Counter,
        &[],
        "Retried sends the commands log dropped whose original is not stored (refused, or not sequenced yet), published again for an answer of their own.",
    ),
    metric(
        "herald_pending_requests",
        Gauge,
        &[],
        "Requests waiting for the sequencer's answer on this gateway.",
    ),
    metric(
        "herald_command_ack_seconds",
        Histogram,
        &[],
        "Gateway-measured time from command to the sequencer's answer (send: until durably stored).",
    ),
    metric(
        "herald_command_timeouts_total",
        Counter,
        &[],
        "Commands answered 'retry' because the sequencer did not answer within the ack timeout.",
    ),
    metric(
        "herald_pushes_written_total",
        Counter,
        &[],
        "Push frames queued to client connections.",
    ),
    metric(
        "herald_pushes_out_of_order_total",
        Counter,
        &[],
        "Message pushes not written to a connection because it already had that Seq or a later one of the conversation (a replay after a failover, or pushes lost in transit and replayed late; the client syncs the gap).",
    ),
    metric(
        "herald_slow_consumer_disconnects_total",
        Counter,
        &[],
        "Connections closed because they did not read: outbound queue full (frames or bytes), or a write not taken within 5 s.",
    ),
    metric(
        "herald_poll_dropped_total",
        Counter,
        &[],
        "Events dropped from overflowing long-poll mailboxes (reported to the client).",
    ),
    metric(
        "herald_kickouts_total",
        Counter,
        &[],
        "Connections kicked by the 'kick' login policy.",
    ),
    metric(
        "herald_chat_rooms",
        Gauge,
        &[],
        "Ephemeral chat rooms with members on this gateway.",
    ),
    metric(
        "herald_conversations_created_total",
        Counter,
        &[],
        "Conversations created.",
    ),
    metric(
        "herald_sessions_online",
        Gauge,
        &[],
        "Sessions with a connection on a live gateway (reported by the gateway tracking presence).",
    ),
    metric(
        "herald_presence_changes_total",
        Counter,
        &["state"],
        "Sessions going online or offline.",
    ),
    metric(
        "herald_presence_resyncs_total",
        Counter,
        &[],
        "Times the presence tracker fell behind the routing table's change feed and resynchronized from a snapshot (each also logged at warn).",
    ),
    metric(
        "herald_routes_reasserted_total",
        Counter,
        &[],
        "Routes of live connections a gateway published again: found missing from the routing table, or all of them after its heartbeat lapsed.",
    ),
    metric(
        "herald_routes_withdrawn_total",
        Counter,
        &[],
        "Routes withdrawn by the presence tracker from gateways confirmed dead.",
    ),
    metric(
        "herald_route_table_age_seconds",
        Gauge,
        &[],
        "Seconds since this process's routing-table replica was last seen current with its bucket (NATS).",
    ),
    metric(
        "herald_gateway_messages_split_total",
        Counter,
        &[],
        "Batches of acks or deliveries split to fit the bus's `max_payload`.",
    ),
    metric(
        "herald_gateway_items_too_large_total",
        Counter,
        &[],
        "Acks or deliveries too large for one bus message alone, not sent (logged at warn; recovered from the store).",
    ),
    metric(
        "herald_log_packs_malformed_total",
        Counter,
        &[],
        "Packs read from a NATS stream that could not be unpacked, skipped (each logged at error; `nats/README.md`, Packs).",
    ),
    metric(
        "herald_route_watch_restarts_total",
        Counter,
        &[],
        "Routing-table watches restarted after ending, failing or falling behind (NATS).",
    ),
    // sequencer
    metric(
        "herald_commands_total",
        Counter,
        &["outcome"],
        "Commands sequenced, by outcome (accepted, duplicate, rejected, undecodable).",
    ),
    metric(
        "herald_appends_total",
        Counter,
        &[],
        "Messages durably appended to the store.",
    ),
    metric(
        "herald_append_seconds",
        Histogram,
        &[],
        "Latency of one batched, fenced store write.",
    ),
    metric(
        "herald_append_batch_size",
        Histogram,
        &[],
        "Store changes per batched write.",
    ),
    metric(
        "herald_append_errors_total",
        Counter,
        &[],
        "Failed batched store writes (the partition resumes from its checkpoint).",
    ),
    metric(
        "herald_sequence_batch_seconds",
        Histogram,
        &[],
        "Time to sequence one batch end to end (load, plan, write, answer, publish).",
    ),
    metric(
        "herald_events_published_total",
        Counter,
        &[],
        "Events published to the events log.",
    ),
    // delivery
    metric(
        "herald_deliveries_total",
        Counter,
        &[],
        "Message pushes routed to gateways, counted per recipient session.",
    ),
    metric(
        "herald_events_unrouted_total",
        Counter,
        &[],
        "Events with recipients none of whom had a route (all offline): a rise while clients are connected means a wrong routing table.",
    ),
    metric(
        "herald_delivery_batch_size",
        Histogram,
        &[],
        "Pushes per gateway batch.",
    ),
    metric(
        "herald_delivery_lag_seconds",
        Histogram,
        &[],
        "Time from a message's sequencing to its fan-out to gateways.",
    ),
    // partitions (sequencer and delivery)
    metric(
        "herald_partitions_owned",
        Gauge,
        &["role"],
        "Partitions this process holds, by role.",
    ),
    metric(
        "herald_partition_acquisitions_total",
        Counter,
        &["role"],
        "Partition leases acquired (failovers and rebalancing), by role.",
    ),
    // webhooks
    metric(
        "herald_webhook_events_queued_total",
        Counter,
        &[],
        "Webhook jobs queued (one per event and endpoint that wants it).",
    ),
    metric(
        "herald_webhook_deliveries_total",
        Counter,
        &["app", "outcome"],
        "Webhook requests by outcome: ok (2xx), retry (failed, to be tried again), dead (given up).",
    ),
    metric(
        "herald_webhook_request_seconds",
        Histogram,
        &["app"],
        "One webhook request, sent to answered (or failed).",
    ),
    metric(
        "herald_webhook_lag_seconds",
        Histogram,
        &["app"],
        "A webhook event's age when its endpoint acknowledged it (queued to 2xx).",
    ),
    metric(
        "herald_webhook_emit_failures_total",
        Counter,
        &[],
        "Gateway events (conversation created, friends) that could not be queued for webhooks.",
    ),
    metric(
        "herald_before_send_total",
        Counter,
        &["outcome"],
        "Before-send hook calls by outcome: allow, reject, replace, no_answer.",
    ),
    metric(
        "herald_before_send_seconds",
        Histogram,
        &[],
        "One before-send hook call.",
    ),
    metric(
        "herald_consumer_restarts_total",
        Counter,
        &["role"],
        "Partition loops (sequencer, delivery or webhooks) restarted from their checkpoint after an error.",
    ),
    metric(
        "herald_checkpoint_save_failures_total",
        Counter,
        &["role"],
        "Checkpoint saves that failed while a partition was served on (retried a period later; a lagging checkpoint means more to replay after a crash).",
    ),
    metric(
        "herald_consumer_pending",
        Gauge,
        &["role", "partition"],
        "Log entries waiting behind the last one read, per role and partition (consumer lag).",
    ),
    // store and bus
    metric(
        "herald_store_seconds",
        Histogram,
        &["op"],
        "Store call latency by op (read, write; SQLite also checkpoint and idempotency_merge, a step of merging recent idempotency keys).",
    ),
    metric(
        "herald_store_errors_total",
        Counter,
        &["op"],
        "Failed store calls by op.",
    ),
    metric(
        "herald_store_group_size",
        Histogram,
        &[],
        "Batches committed together by the SQLite store's group commit.",
    ),
    metric(
        "herald_nats_events_total",
        Counter,
        &["event"],
        "NATS connection events (connected, disconnected, slow_consumer, ...).",
    ),
];

/// Describes every metric and creates counters and gauges at zero.
pub fn register() {
    for m in CATALOGUE {
        match m.kind {
            Counter => {
                metrics::describe_counter!(m.name, m.help);
                if m.labels.is_empty() {
                    metrics::counter!(m.name).increment(0);
                }
            }
            Gauge => {
                metrics::describe_gauge!(m.name, m.help);
                if m.labels.is_empty() {
                    metrics::gauge!(m.name).increment(0.0);
                }
            }
            Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

/// The catalogue as a Markdown table (the README's copy is checked against it).
pub fn markdown() -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for m in CATALOGUE {
        let kind = match m.kind {
            Counter => "counter",
            Gauge => "gauge",
            Histogram => "histogram",
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {} | {} |\n",
            m.name,
            m.labels.join(", "),
            m.help
        ));
    }
    out
}
