//! End-to-end tests: real servers on port 0, real WebSocket and HTTP clients, over both buses.

mod actions;
mod crash;
mod messaging;
mod routes;
mod support;
