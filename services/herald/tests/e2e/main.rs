//! End-to-end tests: real servers on port 0, real WebSocket and HTTP clients, over both buses.

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
mod races;
mod reconnect;
mod routes;
mod support;
mod tracing;
mod two_apps;
