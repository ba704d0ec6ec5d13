//! What the dispatcher knows of every app's webhooks (endpoints, the types they want, bot
//! sessions), read from the store at most every `REFRESH` and shared by all the partitions of a
//! process: the events of apps without endpoints cost no store read at all.
//!
//! An endpoint or bot counts from the moment its registration is answered: the routes that add
//! one wait `SETTLE` (longer than `REFRESH`) before they answer, so any event made after the
//! answer is dispatched with a view read after the registration.

use herald_protocol::{AppId, SessionId};
use herald_store::{StoreError, WebhookEndpoint, WebhookStore};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a dispatcher's view of the apps' webhooks may be old.
pub const REFRESH: Duration = Duration::from_millis(200);
/// How long a route that adds an endpoint or a bot waits before it answers (see the module).
pub const SETTLE: Duration = Duration::from_millis(250);

/// One app's webhooks, as a batch of events needs them.
#[derive(Debug, Default)]
pub struct AppView {
    pub endpoints: Vec<WebhookEndpoint>,
    pub wanted: HashSet<String>,
    pub bots: HashSet<SessionId>,
}

impl AppView {
    pub fn wants(&self, kind: &str) -> bool {
        self.wanted.contains(kind)
    }
}

/// Every app that has an endpoint.
pub type Views = HashMap<AppId, AppView>;

pub struct Directory {
    store: Arc<dyn WebhookStore>,
    current: tokio::sync::Mutex<Option<(Instant, Arc<Views>)>>,
}

impl Directory {
    pub fn new(store: Arc<dyn WebhookStore>) -> Self {
        Self {
            store,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The apps' webhooks, read again when the view is older than `REFRESH` (one reader at a
    /// time: the others wait for its answer).
    pub async fn views(&self) -> Result<Arc<Views>, StoreError> {
        let mut current = self.current.lock().await;
        if let Some((read_at, views)) = current.as_ref()
            && read_at.elapsed() < REFRESH
        {
            return Ok(views.clone());
        }
        let read_at = Instant::now();
        let mut views: Views = HashMap::new();
        for endpoint in self.store.all_endpoints().await? {
            let view = views.entry(endpoint.app.clone()).or_default();
            view.wanted.extend(endpoint.events.iter().cloned());
            view.endpoints.push(endpoint);
        }
        for (app, view) in views.iter_mut() {
            if view.wants(crate::events::BOT_MESSAGE) {
                view.bots = self.store.bots(app).await?.into_iter().collect();
            }
        }
        let views = Arc::new(views);
        *current = Some((read_at, views.clone()));
        Ok(views)
    }
}
