//! The faults, how each is injected and how the cluster is healed afterwards.

use crate::cluster::{Cluster, GATEWAY_TTL, LEASE_TTL, Role};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of the NATS node leading `HERALD_COMMANDS`, restarted once sends and pushes
    /// are back (on the two others).
    KillNatsCommandLeader,
    /// Lame-duck mode of the NATS node leading `HERALD_COMMANDS` (a planned restart: it hands
    /// its leaderships over, then closes its clients and exits), restarted once it has exited
    /// and sends and pushes are back.
    LameDuckNatsCommandLeader,
    /// `kill -9` of the sequencer owning a conversation's partition, restarted after failover.
    KillSequencer,
    /// `kill -9` of the delivery worker owning a conversation's partition, restarted after failover.
    KillDelivery,
    /// `kill -9` of the gateway holding the most receivers: they reconnect to the other one and
    /// sync; it is restarted (same instance name) and they move back.
    KillGateway,
    /// `SIGSTOP` of a conversation's sequencer for twice the lease TTL, then `SIGCONT`: its
    /// partitions have moved meanwhile, and it must be fenced when it wakes (no dup, no gap).
    PauseSequencer,
    /// `SIGSTOP` of the NATS node leading `HERALD_EVENTS` for 20 s (`HERALD_CHAOS_NATS_PAUSE_SECS`),
    /// then `SIGCONT`. The two others must elect new leaders and drop its routes, and Herald
    /// must send and push again while it is still paused (checked for pauses of at least
    /// `MUST_RECOVER_WITHIN_PAUSE`).
    PauseNatsNode,
    /// An expired value written over a live gateway's presence heartbeat (`gw.<id>` in
    /// `herald_leases`), as a heartbeat put delayed past its TTL leaves it: the gateway must
    /// keep its routes and its clients their pushes.
    StaleGatewayHeartbeat,
    /// `SIGSTOP` of the gateway holding the most receivers for longer than its presence TTL,
    /// then `SIGCONT`: its heartbeat really lapses while its connections stay open, the
    /// presence tracker withdraws its routes, and the gateway must publish them again.
    PauseGateway,
}

impl Fault {
    /// Every fault, in the order the short run of `.ci/test` injects them.
    pub const ALL: [Fault; 9] = [
        Fault::KillNatsCommandLeader,
        Fault::LameDuckNatsCommandLeader,
        Fault::KillSequencer,
        Fault::KillDelivery,
        Fault::KillGateway,
        Fault::PauseSequencer,
        Fault::PauseNatsNode,
        Fault::StaleGatewayHeartbeat,
        Fault::PauseGateway,
    ];

    /// The short name `HERALD_CHAOS_FAULTS` takes.
    pub fn id(self) -> &'static str {
        match self {
            Fault::KillNatsCommandLeader => "nats-kill",
            Fault::LameDuckNatsCommandLeader => "nats-ldm",
            Fault::KillSequencer => "seq-kill",
            Fault::KillDelivery => "del-kill",
            Fault::KillGateway => "gw-kill",
            Fault::PauseSequencer => "seq-stop",
            Fault::PauseNatsNode => "nats-stop",
            Fault::StaleGatewayHeartbeat => "gw-stale",
            Fault::PauseGateway => "gw-stop",
        }
    }

    pub fn from_id(id: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::KillNatsCommandLeader => "kill -9 NATS command-stream leader",
            Fault::LameDuckNatsCommandLeader => "lame duck NATS command-stream leader",
            Fault::KillSequencer => "kill -9 sequencer",
            Fault::KillDelivery => "kill -9 delivery worker",
            Fault::KillGateway => "kill -9 gateway",
            Fault::PauseSequencer => "SIGSTOP sequencer 2x lease TTL",
            Fault::PauseNatsNode => "SIGSTOP NATS events-stream leader",
            Fault::StaleGatewayHeartbeat => "stale gateway heartbeat",
            Fault::PauseGateway => "SIGSTOP gateway past presence TTL",
        }
    }
}

/// What undoes a fault, and when.
#[derive(Debug)]
pub enum Heal {
    Nothing,
    /// Restart once sends and pushes have recovered without it (or after `RESTART_AT_LATEST`).
    RestartNats(usize),
    /// Like `RestartNats`, once the node has exited by itself (a lame duck closes its clients first).
    RestartNatsAfterExit(usize),
    RestartProc(usize),
    /// `SIGCONT` after this long.
    ResumeNats(usize, Duration),
    ResumeProc(usize, Duration),
}

/// How long a lame-duck NATS node may take to close its clients and exit: it hands its
/// leaderships over, waits a second and its 1 s grace period, then closes its clients at most a
/// second apart (within its `lame_duck_duration` of 30 s).
const LAME_DUCK_EXIT: Duration = Duration::from_secs(45);

/// A killed process is restarted at the latest this long after the kill, recovered or not.
pub const RESTART_AT_LATEST: Duration = Duration::from_secs(30);

/// Injects `fault` against the process or node it targets; `conv` picks the partition owner,
/// `gateway_load` is how many receivers each gateway holds (by process index), and `pick`
/// breaks a tie between gateways holding as many.
pub async fn inject(
    cluster: &mut Cluster,
    fault: Fault,
    conv: &str,
    gateway_load: &[(usize, usize)],
    pick: usize,
) -> anyhow::Result<(String, Heal)> {
    let most = gateway_load.iter().map(|(_, load)| *load).max().expect("gateways");
    let busiest: Vec<usize> = gateway_load
        .iter()
        .filter(|(_, load)| *load == most)
        .map(|(i, _)| *i)
        .collect();
    let busiest_gateway = busiest[pick % busiest.len()];
    Ok(match fault {
        Fault::KillNatsCommandLeader => {
            let leader = stream_leader(cluster, herald_bus::nats::COMMANDS_STREAM).await?;
            cluster.nats.kill9(leader);
            (cluster.nats.name(leader).to_owned(), Heal::RestartNats(leader))
        }
        Fault::LameDuckNatsCommandLeader => {
            let leader = stream_leader(cluster, herald_bus::nats::COMMANDS_STREAM).await?;
            cluster.nats.lame_duck(leader);
            (cluster.nats.name(leader).to_owned(), Heal::RestartNatsAfterExit(leader))
        }
        Fault::PauseNatsNode => {
            let leader = stream_leader(cluster, herald_bus::nats::EVENTS_STREAM).await?;
            cluster.nats.pause(leader);
            (
                cluster.nats.name(leader).to_owned(),
                Heal::ResumeNats(leader, nats_pause()),
            )
        }
        Fault::KillSequencer | Fault::KillDelivery => {
            let role = if fault == Fault::KillSequencer {
                Role::Sequencer
            } else {
                Role::Delivery
            };
            let owner = cluster.owner(role, conv).await?;
            cluster.kill9(owner);
            (cluster.procs[owner].name.clone(), Heal::RestartProc(owner))
        }
        Fault::PauseSequencer => {
            let owner = cluster.owner(Role::Sequencer, conv).await?;
            cluster.pause(owner);
            (
                cluster.procs[owner].name.clone(),
                Heal::ResumeProc(owner, 2 * LEASE_TTL),
            )
        }
        Fault::KillGateway => {
            cluster.kill9(busiest_gateway);
            (
                cluster.procs[busiest_gateway].name.clone(),
                Heal::RestartProc(busiest_gateway),
            )
        }
        Fault::PauseGateway => {
            cluster.pause(busiest_gateway);
            (
                cluster.procs[busiest_gateway].name.clone(),
                Heal::ResumeProc(busiest_gateway, GATEWAY_TTL + Duration::from_secs(1)),
            )
        }
        Fault::StaleGatewayHeartbeat => {
            let key = cluster.heartbeat_key(busiest_gateway).await?;
            cluster.write_heartbeat(&key, r#"{"expires_ms":1}"#).await?;
            (
                format!("{} ({key})", cluster.procs[busiest_gateway].name),
                Heal::Nothing,
            )
        }
    })
}

/// A NATS node paused this long must not be needed for recovery: sends and pushes come back
/// before it resumes (a 4 - 9 s election and its routes dropped after 4 - 6 s, then Herald).
pub const MUST_RECOVER_WITHIN_PAUSE: Duration = Duration::from_secs(15);

/// How long a NATS node stays paused: 20 s, or `HERALD_CHAOS_NATS_PAUSE_SECS`.
pub fn nats_pause() -> Duration {
    let secs = std::env::var("HERALD_CHAOS_NATS_PAUSE_SECS")
        .ok()
        .map(|v| v.parse().expect("HERALD_CHAOS_NATS_PAUSE_SECS: seconds"))
        .unwrap_or(20);
    Duration::from_secs(secs)
}

async fn stream_leader(cluster: &Cluster, stream: &str) -> anyhow::Result<usize> {
    for _ in 0..50 {
        if let Some(leader) = cluster.nats.stream_leader(stream).await {
            return Ok(leader);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("no leader of {stream}")
}

/// Applies `heal` if it is due: `elapsed` since the injection, `recovered` whether sends and
/// pushes are back. Returns whether the fault is healed now.
pub async fn heal_if_due(cluster: &mut Cluster, heal: &Heal, elapsed: Duration, recovered: bool) -> bool {
    match *heal {
        Heal::Nothing => true,
        Heal::RestartNats(_) | Heal::RestartNatsAfterExit(_) | Heal::RestartProc(_)
            if !recovered && elapsed < RESTART_AT_LATEST =>
        {
            false
        }
        Heal::RestartNats(i) => {
            cluster.nats.restart(i);
            true
        }
        Heal::RestartNatsAfterExit(i) => {
            if !cluster.nats.wait_exit(i, LAME_DUCK_EXIT).await {
                eprintln!(
                    "{} still running {LAME_DUCK_EXIT:?} into lame-duck mode: killed",
                    cluster.nats.name(i)
                );
            }
            cluster.nats.restart(i);
            true
        }
        Heal::RestartProc(i) => {
            cluster.restart(i).await;
            true
        }
        Heal::ResumeNats(_, after) | Heal::ResumeProc(_, after) if elapsed < after => false,
        Heal::ResumeNats(i, _) => {
            cluster.nats.resume(i);
            true
        }
        Heal::ResumeProc(i, _) => {
            cluster.resume(i);
            true
        }
    }
}
