//! End-to-end tests: real servers on port 0, real WebSocket and HTTP clients, over both buses.

/// Runs a scenario `async fn name(kind: BusKind)` on both buses, as the tests `name::embedded`
/// (in-process bus) and `name::nats` (a private `nats-server`).
macro_rules! on_both_buses {
    ($scenario:ident) => {
        mod $scenario {
            use crate::support::BusKind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$scenario(BusKind::Embedded).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nats() {
                super::$scenario(BusKind::Nats).await;
            }
        }
    };
}

mod accounts;
mod actions;
mod bounds;
mod channels;
mod connections;
mod crash;
mod drain;
mod faults;
mod large_groups;
mod logins;
mod malformed;
mod malformed_generated;
mod messaging;
mod nats_access;
mod observability;
mod openapi;
mod ops;
mod presence;
mod races;
mod receipts;
mod reconnect;
mod retries;
mod routes;
mod secrets;
mod seed_gin_chat;
mod seed_im_services;
mod signals;
mod support;
mod tracing;
mod two_apps;
mod web_pages;
mod webhooks;
