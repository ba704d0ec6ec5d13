//! The cluster under test: three clustered `nats-server`s and two `herald` processes of each
//! role (gateway, sequencer, delivery) on one shared SQLite directory, as `e2e crash::` runs
//! them, with streams and buckets at R3. Each process can be killed, restarted, paused and
//! resumed by name.

use crate::support::{SECRET, free_addr, wait_healthy};
use herald_bus::nats::{NatsBus, NatsConfig};
use herald_bus::{Bucket, Bus};
use herald_testkit::NatsCluster;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PARTITIONS: u32 = 8;
pub const LEASE_TTL: Duration = Duration::from_secs(2);
/// How long a gateway's presence heartbeat stays valid (`gateway::presence::GATEWAY_TTL`).
pub const GATEWAY_TTL: Duration = Duration::from_secs(5);
const REPLICAS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Gateway,
    Sequencer,
    Delivery,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Sequencer => "sequencer",
            Role::Delivery => "delivery",
        }
    }
}

/// One `herald <role>` process; restarted under the same instance name (as a pod keeps its
/// name), each start logging to a file of its own.
pub struct Proc {
    pub name: String,
    pub role: Role,
    pub addr: SocketAddr,
    child: Option<Child>,
    starts: u32,
    pub paused: bool,
}

pub struct Cluster {
    pub nats: NatsCluster,
    pub procs: Vec<Proc>,
    pub dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Cluster {
    /// Starts NATS, then two processes of each role, and waits until every one is ready.
    pub async fn start(dir: &Path) -> Self {
        let nats = NatsCluster::start_in(dir, 3).await;
        let data_dir = dir.join("data");
        let mut procs = Vec::new();
        for (name, role) in [
            ("seq-a", Role::Sequencer),
            ("seq-b", Role::Sequencer),
            ("del-a", Role::Delivery),
            ("del-b", Role::Delivery),
            ("gw-a", Role::Gateway),
            ("gw-b", Role::Gateway),
        ] {
            procs.push(Proc {
                name: name.to_owned(),
                role,
                addr: free_addr(),
                child: None,
                starts: 0,
                paused: false,
            });
        }
        let mut cluster = Cluster {
            nats,
            procs,
            dir: dir.to_owned(),
            data_dir,
        };
        // the first process creates the streams and buckets; the others find them
        cluster.spawn(0);
        wait_healthy(cluster.procs[0].addr).await;
        for i in 1..cluster.procs.len() {
            cluster.spawn(i);
        }
        for proc in &cluster.procs {
            wait_healthy(proc.addr).await;
        }
        cluster
    }

    fn env(&self, proc: &Proc) -> Vec<(&'static str, String)> {
        vec![
            ("HERALD_NATS_URL", self.nats.urls()),
            ("HERALD_NATS_REPLICAS", REPLICAS.to_string()),
            ("HERALD_DATA_DIR", self.data_dir.display().to_string()),
            ("HERALD_PARTITIONS", PARTITIONS.to_string()),
            ("HERALD_LEASE_TTL_MS", LEASE_TTL.as_millis().to_string()),
            ("HERALD_ACK_TIMEOUT_MS", "2500".to_owned()),
            ("HERALD_HTTP_ADDR", proc.addr.to_string()),
            ("HERALD_INSTANCE", proc.name.clone()),
            ("HERALD_APP_SECRET", SECRET.to_owned()),
        ]
    }

    fn spawn(&mut self, i: usize) {
        let env = self.env(&self.procs[i]);
        let proc = &mut self.procs[i];
        proc.starts += 1;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.{}.log", proc.name, proc.starts)))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg(proc.role.name())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn herald");
        proc.child = Some(child);
        proc.paused = false;
    }

    /// The gateways' process indices.
    pub fn gateways(&self) -> Vec<usize> {
        (0..self.procs.len())
            .filter(|i| self.procs[*i].role == Role::Gateway)
            .collect()
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.procs[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.procs[i].paused = false;
    }

    pub async fn restart(&mut self, i: usize) {
        assert!(self.procs[i].child.is_none(), "{} still runs", self.procs[i].name);
        self.spawn(i);
        wait_healthy(self.procs[i].addr).await;
    }

    pub fn pause(&mut self, i: usize) {
        let pid = self.procs[i].child.as_ref().expect("running").id();
        herald_testkit::signal(pid, "STOP");
        self.procs[i].paused = true;
    }

    pub fn resume(&mut self, i: usize) {
        let pid = self.procs[i].child.as_ref().expect("running").id();
        herald_testkit::signal(pid, "CONT");
        self.procs[i].paused = false;
    }

    /// A fresh connection to the bus, as the processes configure it (R3: a connection with the
    /// default R1 would try to change the streams' replicas).
    pub async fn bus(&self) -> anyhow::Result<NatsBus> {
        let mut config = NatsConfig::new(self.nats.urls(), PARTITIONS);
        config.replicas = REPLICAS;
        config.name = "chaos-suite".into();
        Ok(NatsBus::connect(&config).await?)
    }

    /// The process of `role` holding the lease of `conv`'s partition.
    pub async fn owner(&self, role: Role, conv: &str) -> anyhow::Result<usize> {
        let app = herald_protocol::AppId::parse("default")?;
        let conv = herald_protocol::ConvId::parse(conv)?;
        let partition = herald_protocol::partition::partition_of(&app, &conv, PARTITIONS);
        let bus = self.bus().await?;
        let entry = bus
            .kv_get(Bucket::Leases, &format!("lease.{}.{partition}", role.name()))
            .await?
            .ok_or_else(|| anyhow::anyhow!("partition {partition} of {} is not leased", role.name()))?;
        let value: serde_json::Value = serde_json::from_slice(&entry.value)?;
        let owner = value["owner"].as_str().unwrap_or_default();
        self.procs
            .iter()
            .position(|p| p.role == role && owner.starts_with(&p.name))
            .ok_or_else(|| anyhow::anyhow!("lease owner {owner} is no process of the cluster"))
    }

    /// Whether `role`'s partitions are balanced: every one leased, each of the two processes
    /// holding its fair share (half), so no handover is still on its way.
    pub async fn balanced(&self, role: Role) -> anyhow::Result<bool> {
        let bus = self.bus().await?;
        let leases = bus.kv_scan(Bucket::Leases, &format!("lease.{}.", role.name())).await?;
        let mut held: HashMap<String, usize> = HashMap::new();
        for (_, value) in &leases {
            let value: serde_json::Value = serde_json::from_slice(value)?;
            let live = value["expires_ms"].as_u64().unwrap_or(0) > now_ms();
            if let (Some(owner), true) = (value["owner"].as_str(), live) {
                *held.entry(owner.to_owned()).or_default() += 1;
            }
        }
        let share = PARTITIONS as usize / 2;
        Ok(held.len() == 2 && held.values().all(|n| *n == share))
    }

    /// Waits until everything runs again: every NATS node healthy (caught up), every process
    /// ready, and each role's partitions balanced over its two processes.
    pub async fn wait_steady(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        tokio::time::timeout(within, self.nats.wait_healthy(within))
            .await
            .map_err(|_| anyhow::anyhow!("NATS nodes not all healthy within {within:?}"))?;
        // a resumed node answers /healthz at once, before it learns it is behind: wait until
        // every stream and bucket has a leader and every other node as a current replica
        let streams = replicated_streams();
        let streams: Vec<&str> = streams.iter().map(String::as_str).collect();
        loop {
            if self.nats.replicated(&streams).await {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("NATS streams and buckets not all replicated within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for proc in &self.procs {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::timeout(remaining, wait_healthy(proc.addr))
                .await
                .map_err(|_| anyhow::anyhow!("{} not ready within {within:?}", proc.name))?;
        }
        for role in [Role::Sequencer, Role::Delivery] {
            loop {
                if matches!(self.balanced(role).await, Ok(true)) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "partitions of {} not balanced over two processes within {within:?}",
                        role.name()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// The key of gateway `i`'s presence heartbeat in `herald_leases` (`gw.<id>`).
    pub async fn heartbeat_key(&self, i: usize) -> anyhow::Result<String> {
        let bus = self.bus().await?;
        let prefix = format!("gw.{}", self.procs[i].name);
        bus.kv_scan(Bucket::Leases, &prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .next()
            .ok_or_else(|| anyhow::anyhow!("no heartbeat under {prefix}"))
    }

    pub async fn write_heartbeat(&self, key: &str, value: &'static str) -> anyhow::Result<()> {
        let bus = self.bus().await?;
        bus.kv_put(Bucket::Leases, key, bytes::Bytes::from_static(value.as_bytes()))
            .await?;
        Ok(())
    }
}

/// The streams Herald keeps at R3: its two logs and its three KV buckets.
fn replicated_streams() -> Vec<String> {
    use herald_bus::nats::{CHECKPOINTS_BUCKET, COMMANDS_STREAM, EVENTS_STREAM, LEASES_BUCKET, ROUTES_BUCKET};
    let mut streams = vec![COMMANDS_STREAM.to_owned(), EVENTS_STREAM.to_owned()];
    streams.extend([LEASES_BUCKET, CHECKPOINTS_BUCKET, ROUTES_BUCKET].map(|b| format!("KV_{b}")));
    streams
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            if self.procs[i].paused {
                self.resume(i);
            }
            self.kill9(i);
        }
    }
}
