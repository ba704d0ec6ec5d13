//! `/openapi.json` describes every route, error code and limit, and its references resolve.

use crate::support::{BusKind, Herald};
use serde_json::Value;

const ROUTES: &[(&str, &str)] = &[
    ("/send_msg", "post"),
    ("/check_joined_conversation", "post"),
    ("/get_joined_conversation", "post"),
    ("/get_conversation_detail", "post"),
    ("/join_conversation", "post"),
    ("/create_conversation", "post"),
    ("/leave_conversation", "post"),
    ("/get_lastone_msgid", "post"),
    ("/get_conversation_msg_by_range", "post"),
    ("/get_conversation_30msg_before_the_id", "post"),
    ("/get_conversation_30msg_after_the_id", "post"),
    ("/get_conversation_last_30_msg", "post"),
    ("/get_conversation_lastone_msg", "post"),
    ("/inner/get_token", "post"),
    ("/inner/create_conversation", "post"),
    ("/inner/kickout_conversation", "post"),
    ("/inner/join_conversation", "post"),
    ("/inner/set_archive_conversations", "post"),
    ("/inner/settings", "get"),
    ("/inner/settings", "put"),
    ("/notify", "get"),
    ("/ws", "get"),
    ("/im/connect", "get"),
    ("/inner/webhooks", "post"),
    ("/inner/webhooks", "get"),
    ("/inner/webhooks/{id}", "delete"),
    ("/inner/webhooks/{id}/rotate_secret", "post"),
    ("/inner/webhooks/{id}/dead_letters", "get"),
    ("/inner/webhooks/{id}/replay", "post"),
    ("/inner/bots/{session}", "put"),
    ("/inner/bots/{session}", "delete"),
    ("/inner/send_msg", "post"),
    ("/console/app/{id}/webhooks", "post"),
    ("/console/app/{id}/webhooks", "get"),
    ("/console/app/{id}/webhooks/{webhook}", "delete"),
    ("/console/app/{id}/webhooks/{webhook}/rotate_secret", "post"),
    ("/console/app/{id}/webhooks/{webhook}/dead_letters", "get"),
    ("/console/app/{id}/webhooks/{webhook}/replay", "post"),
    ("/chat/test", "get"),
    ("/ping", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
];

/// Probes and metrics: no token, so no 400/401 answers.
const OPS_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics", "/ping"];

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route_code_and_limit() {
    let herald = Herald::start(BusKind::Embedded).await;
    let api = herald.api();
    let doc: Value = api
        .http
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    for (path, method) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is described");
        assert!(
            operation["responses"]["200"].is_object() || operation["responses"]["101"].is_object(),
            "{path}: success"
        );
        if !OPS_ROUTES.contains(path) {
            assert!(
                operation["responses"]["400"].is_object() && operation["responses"]["401"].is_object(),
                "{path}: errors"
            );
        }
    }
    let description = doc["info"]["description"].as_str().unwrap();
    for code in [
        10101, 10001, 10002, 10003, 90010, 90011, 90013, 10004, 10005, 10006, 10007, 10008, 10009, 1003, 10010, 10011,
    ] {
        assert!(
            description.contains(&format!("| {code} |")),
            "error code {code} is documented"
        );
    }
    for limit in [
        "HTTP body",
        "WebSocket frame",
        "history page",
        "outbound queue",
        "long poll",
        "msg-listHistory",
        "failed logins",
        "password hashing",
        "end-user accounts",
    ] {
        assert!(description.contains(limit), "limit {limit} is documented");
    }
    for action in [
        "msg-im",
        "msg-read",
        "msg-listHistory",
        "msg-delete",
        "conv-create",
        "conv-list",
        "chat-msg-im",
        "sync",
        "typing",
    ] {
        assert!(
            description.contains(&format!("`{action}`")),
            "action {action} is documented"
        );
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target.strip_prefix("#/components/schemas/").expect("local schema ref");
        assert!(doc["components"]["schemas"][name].is_object(), "{target} resolves");
    }
    // and a real validator agrees (installed into .venv by the README's test command)
    let validator = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/openapi-spec-validator");
    let file = herald.data_dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new(validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{validator}: {e}; run .ci/test, which installs it"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    herald.stop().await;
}
