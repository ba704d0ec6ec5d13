//! End-to-end tests: real servers on port 0, real WebSocket and HTTP clients, over both buses.

mod crash;
mod messaging;
mod support;
