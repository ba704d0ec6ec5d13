//! Synapse, the Matrix reference homeserver, as a peer: [`server`] starts it on a private
//! PostgreSQL, [`client`] speaks the client-server API, [`user`] runs one user under load with
//! the harness's accounting.
//!
//! Plugging it into a run: start a [`SynapseServer`], make a [`SynapseClient`] on its
//! `base_url` and `shared_secret`, create [`client::Pair`]s with `SynapseClient::pairs`, then per
//! pair `i` call [`spawn_user`] for `a` (sends under `"{i}a"`, receives `"{i}b"`) and for `b`
//! (sends `"{i}b"`, receives `"{i}a"`); `Run::go`, stop, drain and tally as for Herald. The
//! server's pids are `synapse_pid` (the `Target.server_pid` slot) and `postgres_pid` (the
//! companion: count its backends with `server::cpu_seconds_with_children`).

pub mod client;
pub mod server;
pub mod user;

pub use client::{SynapseClient, User};
pub use server::{Install, SynapseServer};
pub use user::spawn_user;
