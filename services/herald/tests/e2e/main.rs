//! End-to-end tests: real servers on port 0, real WebSocket and HTTP clients, over both buses.

mod accounts;
mod actions;
mod bounds;
mod channels;
mod crash;
mod drain;
mod malformed;
mod messaging;
mod observability;
mod openapi;
mod races;
mod reconnect;
mod routes;
mod support;
mod tracing;
