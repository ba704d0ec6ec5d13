//! The HTTP calls a client makes before it talks over WebSockets: tokens from
//! `/inner/get_token`, conversations from `/create_conversation` and `/inner/create_conversation`.

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

/// Requests in flight at once while preparing a run.
const SETUP_CONCURRENCY: usize = 32;

#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    secret: String,
    http: reqwest::Client,
    /// Without a total timeout: for streams that last the whole run.
    streaming: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, secret: &str) -> anyhow::Result<Self> {
        crate::ws::loopback_addr(base)?;
        // reqwest's rustls (when built with the workspace) takes the process's provider
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(SETUP_CONCURRENCY)
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            http,
            streaming: reqwest::Client::new(),
        })
    }

    /// `ws://…` for a path of this server.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base.replacen("http://", "ws://", 1))
    }

    async fn post(&self, path: &str, bearer: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() || body["code"] != 0 {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body["data"].clone())
    }

    pub async fn token(&self, session: &str) -> anyhow::Result<String> {
        let data = self
            .post(
                "/inner/get_token",
                &self.secret,
                json!({"session": session, "platform": 1}),
            )
            .await?;
        data.as_str().map(str::to_owned).context("token is not a string")
    }

    /// Tokens for every session, in order, counted on `bar`.
    pub async fn tokens(&self, sessions: &[String], bar: &indicatif::ProgressBar) -> anyhow::Result<Vec<String>> {
        futures::stream::iter(sessions.iter().map(|s| async move {
            let token = self.token(s).await;
            bar.inc(1);
            token
        }))
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
    }

    /// The 1:1 conversation of the token's session with `peer`.
    pub async fn create_single(&self, token: &str, peer: &str) -> anyhow::Result<String> {
        let data = self
            .post(
                "/create_conversation",
                token,
                json!({"kind": "single", "conversation_type": 1, "sessions": [peer]}),
            )
            .await?;
        conversation_id(&data)
    }

    /// 1:1 conversations for `(token of a, b)` pairs, in order.
    pub async fn create_singles(&self, pairs: &[(String, String)]) -> anyhow::Result<Vec<String>> {
        futures::stream::iter(pairs.iter().map(|(token, peer)| self.create_single(token, peer)))
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// A group conversation of `sessions` (at most 10,000), created by the app's backend.
    pub async fn create_group(&self, sessions: &[String]) -> anyhow::Result<String> {
        let data = self
            .post(
                "/inner/create_conversation",
                &self.secret,
                json!({"conversation_type": 1, "sessions": sessions}),
            )
            .await?;
        conversation_id(&data)
    }

    /// Turns off the app's anti-spam rule and send rate limit (`PUT /inner/settings`), which
    /// would otherwise refuse a load test's sends. False when the server has no such route
    /// (the relay).
    pub async fn relax_limits(&self) -> anyhow::Result<bool> {
        let url = format!("{}/inner/settings", self.base);
        let current = self.http.get(&url).bearer_auth(&self.secret).send().await?;
        if matches!(current.status().as_u16(), 404 | 405) {
            return Ok(false);
        }
        let current: Value = current.json().await.context("GET /inner/settings")?;
        // only the settings this server has
        let mut update = serde_json::Map::new();
        for (name, off) in [("spam_unanswered_limit", json!(0)), ("send_rate_per_sec", json!(0.0))] {
            if current["data"].get(name).is_some() {
                update.insert(name.to_owned(), off);
            }
        }
        if update.is_empty() {
            return Ok(false);
        }
        let response = self
            .http
            .put(&url)
            .bearer_auth(&self.secret)
            .json(&update)
            .send()
            .await
            .context("PUT /inner/settings")?;
        match response.status().as_u16() {
            200 => Ok(true),
            status => bail!(
                "PUT /inner/settings: {status} {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// Waits until the server answers `/readyz`.
    pub async fn wait_ready(&self, within: std::time::Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{} not ready within {within:?}", self.base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A streaming GET (`/notify?protoc=sse|poll`).
    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .streaming
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await?)
    }
}

fn conversation_id(data: &Value) -> anyhow::Result<String> {
    data["ConversationId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no ConversationId in {data}"))
}
