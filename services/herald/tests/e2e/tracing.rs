//! One send produces one connected trace across the separate gateway, sequencer and delivery
//! processes (its webhook event queued in it too), exported over OTLP (here to a collector the
//! test runs).

use crate::support::{Api, Process, free_addr, wait_healthy};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    service: String,
}

/// A minimal OTLP/HTTP (JSON) trace receiver.
async fn collector() -> (std::net::SocketAddr, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let export: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    let service = resource["resource"]["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|a| a["key"] == "service.name")
                        .and_then(|a| a["value"]["stringValue"].as_str())
                        .unwrap_or_default()
                        .to_owned();
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            let text = |k: &str| span[k].as_str().unwrap_or_default().to_owned();
                            sink.lock().unwrap().push(Span {
                                trace: text("traceId"),
                                id: text("spanId"),
                                parent: text("parentSpanId"),
                                name: text("name"),
                                service: service.clone(),
                            });
                        }
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_send_is_one_connected_trace_across_processes() {
    let (collector_addr, spans) = collector().await;
    let nats = herald_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = |addr: std::net::SocketAddr| {
        vec![
            ("HERALD_NATS_URL", nats.url.clone()),
            ("HERALD_DATA_DIR", dir.path().join("data").display().to_string()),
            ("HERALD_PARTITIONS", "2".to_owned()),
            ("HERALD_HTTP_ADDR", addr.to_string()),
            ("HERALD_OTLP_ENDPOINT", format!("http://{collector_addr}")),
            ("HERALD_OTLP_PROTOCOL", "json".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
            ("HERALD_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ]
    };
    let addrs: Vec<_> = (0..3).map(|_| free_addr()).collect();
    let _sequencer = Process::spawn("traced-sequencer", "sequencer", &env(addrs[0]), dir.path());
    let _delivery = Process::spawn("traced-delivery", "delivery", &env(addrs[1]), dir.path());
    let _gateway = Process::spawn("traced-gateway", "gateway", &env(addrs[2]), dir.path());
    for addr in &addrs {
        wait_healthy(*addr).await;
    }
    let api = Api::new(addrs[2]);
    // an endpoint for the app's messages: queuing the webhook event is a stage of the trace too
    let receiver = crate::support::Receiver::start().await;
    crate::webhooks::register(&api, &receiver, &["message.created"]).await;
    let alice = api.token("alice", 1).await;
    let conv = api.create_group(&alice, &["bob"]).await;
    let mut bob = api.ws(&api.token("bob", 1).await).await;
    // the send is acknowledged (200 with its stored id and Seq) and pushed with that same id
    let (msg_id, seq) = api.send_until_acked(&alice, &conv, "traced", "follow me").await;
    assert_eq!(seq, 1, "the first message of a new conversation");
    let pushed = bob.next_message().await;
    assert_eq!(pushed["Content"], "follow me");
    assert_eq!(
        pushed["MsgId"],
        msg_id.as_str(),
        "the push carries the acknowledged message"
    );

    let wanted = [
        "gateway.command",
        "sequencer.command",
        "store.append",
        "delivery.fanout",
        "webhooks.queue",
        "webhooks.send",
        "gateway.write",
    ];
    let trace = herald_testkit::eventually(Duration::from_secs(30), "a trace with every stage", || {
        let spans = spans.lock().unwrap().clone();
        let mut by_trace: HashMap<String, Vec<Span>> = HashMap::new();
        for span in spans {
            by_trace.entry(span.trace.clone()).or_default().push(span);
        }
        let found = by_trace.into_values().find(|spans| {
            let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            wanted.iter().all(|w| names.contains(w))
        });
        std::future::ready(found)
    })
    .await;
    let services: HashSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        HashSet::from(["herald-gateway", "herald-sequencer", "herald-delivery"]),
        "three processes"
    );
    let ids: HashSet<&str> = trace.iter().map(|s| s.id.as_str()).collect();
    let roots: Vec<&Span> = trace.iter().filter(|s| s.parent.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root: {trace:#?}");
    assert_eq!(roots[0].name, "gateway.command");
    for span in trace.iter().filter(|s| !s.parent.is_empty()) {
        assert!(
            ids.contains(span.parent.as_str()),
            "{} hangs off a span of the same trace",
            span.name
        );
    }
    // the receiver is handed the trace too: its request's `traceparent` names the send's span
    let send = trace.iter().find(|s| s.name == "webhooks.send").unwrap();
    let delivered = receiver.accepted();
    let request = delivered
        .iter()
        .find(|r| r.body["data"]["MsgId"] == msg_id.as_str())
        .expect("the message's webhook request");
    assert_eq!(
        request.traceparent,
        format!("00-{}-{}-01", send.trace, send.id),
        "the webhook request continues the message's trace"
    );
    let json = json!(
        trace
            .iter()
            .map(|s| format!("{}:{}", s.service, s.name))
            .collect::<Vec<_>>()
    );
    eprintln!("trace: {json}");
}
