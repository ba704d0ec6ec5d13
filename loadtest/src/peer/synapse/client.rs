//! The Matrix client-server API calls the harness makes: users registered with the shared
//! secret, one private room per pair, sends with a transaction id, `/sync` long-polls.

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Requests in flight at once while preparing a run.
const SETUP_CONCURRENCY: usize = 16;
/// Idle HTTP connections kept to Synapse: every sender's window and every sync loop at once.
const POOL: usize = 4096;
/// How long a `/sync` waits for news before answering empty.
pub const POLL_MS: u64 = 30_000;
/// Events one `/sync` returns at most; a longer gap is `limited` and filled from `/messages`.
const TIMELINE_LIMIT: u32 = 1000;
/// Timeout of a request that is not a long-poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A registered user and its access token.
#[derive(Debug, Clone)]
pub struct User {
    /// `@name:loadtest`
    pub user_id: String,
    pub token: String,
}

/// Two users and their private room.
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: User,
    pub b: User,
    pub room: String,
}

/// One event of a room timeline: the fields the harness reads.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub sender: String,
    #[serde(default)]
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
pub struct Content {
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Sync {
    pub next_batch: String,
    #[serde(default)]
    pub rooms: Rooms,
}

#[derive(Debug, Default, Deserialize)]
pub struct Rooms {
    #[serde(default)]
    pub join: HashMap<String, JoinedRoom>,
}

#[derive(Debug, Deserialize)]
pub struct JoinedRoom {
    pub timeline: Timeline,
}

#[derive(Debug, Deserialize)]
pub struct Timeline {
    #[serde(default)]
    pub events: Vec<Event>,
    /// Events between the last sync and these were left out: fetch them from `prev_batch`.
    #[serde(default)]
    pub limited: bool,
    #[serde(default)]
    pub prev_batch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    chunk: Vec<Event>,
    #[serde(default)]
    end: Option<String>,
}

/// A Synapse on loopback, as its clients reach it.
#[derive(Clone)]
pub struct SynapseClient {
    /// `http://127.0.0.1:PORT`
    base: String,
    shared_secret: String,
    http: reqwest::Client,
}

/// Percent-encodes a path segment or query value (room ids hold `!` and `:`).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The shared-secret registration MAC: HMAC-SHA1 over nonce, user, password and the admin flag,
/// NUL-separated, in lower-case hex.
pub fn registration_mac(secret: &str, nonce: &str, user: &str, password: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for (i, part) in [nonce, user, password, "notadmin"].into_iter().enumerate() {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

impl SynapseClient {
    pub fn new(base: &str, shared_secret: &str) -> anyhow::Result<Self> {
        crate::ws::loopback_addr(base)?;
        // reqwest's rustls (when built with the workspace) takes the process's provider
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(POOL)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            shared_secret: shared_secret.to_owned(),
            http,
        })
    }

    /// One request; the JSON answer, or an error naming the call and the server's answer.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .timeout(timeout);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.with_context(|| format!("{method} {path}"))?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    /// Registers `localpart` through the admin API with the shared secret; its access token.
    pub async fn register(&self, localpart: &str) -> anyhow::Result<User> {
        const PATH: &str = "/_synapse/admin/v1/register";
        let nonce = self
            .call(reqwest::Method::GET, PATH, None, None, REQUEST_TIMEOUT)
            .await?;
        let nonce = nonce["nonce"].as_str().context("no nonce")?;
        let password = format!("pw-{localpart}");
        let mac = registration_mac(&self.shared_secret, nonce, localpart, &password);
        let body = json!({"nonce": nonce, "username": localpart, "password": password, "admin": false, "mac": mac});
        let answer = self
            .call(reqwest::Method::POST, PATH, None, Some(&body), REQUEST_TIMEOUT)
            .await?;
        Ok(User {
            user_id: answer["user_id"].as_str().context("no user_id")?.to_owned(),
            token: answer["access_token"].as_str().context("no access_token")?.to_owned(),
        })
    }

    /// `a`'s private room with `b`, invited and joined.
    pub async fn private_room(&self, a: &User, b: &User) -> anyhow::Result<String> {
        let body = json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [b.user_id]});
        let created = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(&a.token),
                Some(&body),
                REQUEST_TIMEOUT,
            )
            .await?;
        let room = created["room_id"].as_str().context("no room_id")?.to_owned();
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{}", encode(&room)),
            Some(&b.token),
            Some(&json!({})),
            REQUEST_TIMEOUT,
        )
        .await?;
        Ok(room)
    }

    /// `count` pairs of fresh users named after the run, each pair in its private room.
    pub async fn pairs(&self, run_id: &str, count: u32) -> anyhow::Result<Vec<Pair>> {
        futures::stream::iter(0..count)
            .map(|i| async move {
                let a = self.register(&format!("{run_id}-p{i}a")).await?;
                let b = self.register(&format!("{run_id}-p{i}b")).await?;
                let room = self.private_room(&a, &b).await?;
                anyhow::Ok(Pair { a, b, room })
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// The event filter of `user`'s syncs and gap fills: the peer's messages only (its own
    /// echoes, state, receipts and presence are left out at the server).
    pub fn event_filter(user: &User) -> Value {
        json!({"types": ["m.room.message"], "not_senders": [user.user_id]})
    }

    /// Stores `user`'s sync filter: `room`'s timeline of the peer's messages, nothing else.
    pub async fn sync_filter(&self, user: &User, room: &str) -> anyhow::Result<String> {
        let mut timeline = Self::event_filter(user);
        timeline["limit"] = json!(TIMELINE_LIMIT);
        let nothing = json!({"types": []});
        let filter = json!({
            "room": {
                "rooms": [room],
                "timeline": timeline,
                "state": nothing,
                "ephemeral": nothing,
                "account_data": nothing,
            },
            "presence": nothing,
            "account_data": nothing,
        });
        let path = format!("/_matrix/client/v3/user/{}/filter", encode(&user.user_id));
        let answer = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(&user.token),
                Some(&filter),
                REQUEST_TIMEOUT,
            )
            .await?;
        Ok(answer["filter_id"].as_str().context("no filter_id")?.to_owned())
    }

    /// One `/sync`: waits up to `timeout_ms` for news after `since` (none: the first sync).
    pub async fn sync(&self, user: &User, filter: &str, since: Option<&str>, timeout_ms: u64) -> anyhow::Result<Sync> {
        let mut path = format!("/_matrix/client/v3/sync?filter={}&timeout={timeout_ms}", encode(filter));
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        let timeout = Duration::from_millis(timeout_ms) + REQUEST_TIMEOUT;
        let answer = self
            .call(reqwest::Method::GET, &path, Some(&user.token), None, timeout)
            .await?;
        Ok(serde_json::from_value(answer)?)
    }

    /// Sends `body` to `room` with transaction id `txn` (Synapse answers a repeated id with the
    /// first event, not a second one); the 200 with an `event_id` is the server's ack.
    pub async fn send(&self, user: &User, room: &str, txn: &str, body: &str) -> anyhow::Result<()> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            encode(room),
            encode(txn)
        );
        let content = json!({"msgtype": "m.text", "body": body});
        let answer = self
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&user.token),
                Some(&content),
                REQUEST_TIMEOUT,
            )
            .await?;
        if answer["event_id"].as_str().is_none() {
            bail!("PUT {path}: no event_id in {answer}");
        }
        Ok(())
    }

    /// The peer's messages a `limited` sync left out: pages back from `from` until the event
    /// `last_seen` (the newest one received before), oldest first.
    pub async fn gap(
        &self,
        user: &User,
        room: &str,
        from: &str,
        last_seen: Option<&str>,
    ) -> anyhow::Result<Vec<Event>> {
        let filter = encode(&Self::event_filter(user).to_string());
        let mut from = from.to_owned();
        let mut found = Vec::new();
        loop {
            let path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit={TIMELINE_LIMIT}&from={}&filter={filter}",
                encode(room),
                encode(&from)
            );
            let answer = self
                .call(reqwest::Method::GET, &path, Some(&user.token), None, REQUEST_TIMEOUT)
                .await?;
            let page: Page = serde_json::from_value(answer)?;
            let empty = page.chunk.is_empty();
            for event in page.chunk {
                if Some(event.event_id.as_str()) == last_seen {
                    found.reverse();
                    return Ok(found);
                }
                found.push(event);
            }
            match page.end {
                Some(end) if !empty => from = end,
                // the start of the room: everything before the limited timeline is here
                _ => {
                    found.reverse();
                    return Ok(found);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_room_ids() {
        assert_eq!(encode("!abc:loadtest"), "%21abc%3Aloadtest");
        assert_eq!(encode("s1_2-3.x~"), "s1_2-3.x~");
    }

    #[test]
    fn the_registration_mac_is_hmac_sha1_of_the_nul_separated_fields() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"secret",b"n\x00u\x00p\x00notadmin",hashlib.sha1).hexdigest())'
        assert_eq!(
            registration_mac("secret", "n", "u", "p"),
            "0f2b4751fa14a68d6a6878c313b752580706c394"
        );
    }

    #[test]
    fn decodes_a_sync() {
        let text = r#"{"next_batch":"s9","rooms":{"join":{"!r:l":{"timeline":{"events":[
            {"type":"m.room.message","event_id":"$e","sender":"@b:l","content":{"msgtype":"m.text","body":"1 5 x"}}],
            "limited":true,"prev_batch":"t1"}}}}}"#;
        let sync: Sync = serde_json::from_str(text).unwrap();
        let room = &sync.rooms.join["!r:l"];
        assert!(room.timeline.limited);
        assert_eq!(room.timeline.events[0].content.body.as_deref(), Some("1 5 x"));
        let empty: Sync = serde_json::from_str(r#"{"next_batch":"s10"}"#).unwrap();
        assert!(empty.rooms.join.is_empty());
    }
}
