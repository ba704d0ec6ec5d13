//! A cluster of `nats-server` processes on loopback (JetStream with file storage, so streams and
//! buckets can be replicated three ways), each node individually killable, restartable and
//! pausable: the NATS of the fault-injection suite.

use crate::nats_server::spawn;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One clustered server: its ports, its directory (configuration, store, log) and its process.
struct Node {
    name: String,
    port: u16,
    monitor_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    fn config(&self) -> std::path::PathBuf {
        self.dir.join("nats-server.conf")
    }
}

pub struct NatsCluster {
    nodes: Vec<Node>,
    /// The nodes' directories when the cluster made them (else the caller's, kept with its logs).
    _dir: Option<tempfile::TempDir>,
}

impl NatsCluster {
    /// Starts `size` clustered servers (named `n0`, `n1`, …) and waits until each reports
    /// healthy, i.e. JetStream has a meta leader and the node is current with it.
    pub async fn start(size: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cluster = Self::start_in(dir.path(), size).await;
        cluster._dir = Some(dir);
        cluster
    }

    /// `start`, each node's configuration, store and log in `<dir>/nats-<name>` (a test that
    /// keeps its directory on failure keeps the servers' logs with it).
    pub async fn start_in(dir: &Path, size: usize) -> Self {
        let cluster_ports: Vec<u16> = (0..size).map(|_| crate::free_port()).collect();
        let mut nodes = Vec::with_capacity(size);
        for (i, cluster_port) in cluster_ports.iter().enumerate() {
            let dir = dir.join(format!("nats-n{i}"));
            std::fs::create_dir_all(&dir).expect("node directory");
            let (port, monitor_port) = (crate::free_port(), crate::free_port());
            let routes: Vec<String> = cluster_ports
                .iter()
                .filter(|p| *p != cluster_port)
                .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
                .collect();
            let store = dir.join("jetstream");
            let log = dir.join("nats-server.log");
            // pings as nats/nats-server.conf sets them: a paused (hung) peer's routes are
            // closed after 4 - 6 s, taking its interest with them; with the 2 min default the
            // others keep routing requests to it (a KV direct get answered by no one)
            let text = format!(
                "server_name: \"n{i}\"\nlisten: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor_port}\"\n\
                 jetstream {{ store_dir: {store:?} }}\nlog_file: {log:?}\n\
                 ping_interval: \"2s\"\nping_max: 2\n\
                 lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n\
                 cluster {{\n  name: \"herald-test\"\n  listen: \"127.0.0.1:{cluster_port}\"\n  routes: [{}]\n}}\n",
                routes.join(", ")
            );
            let node = Node {
                name: format!("n{i}"),
                port,
                monitor_port,
                dir,
                child: None,
                paused: false,
            };
            std::fs::write(node.config(), text).expect("write nats-server.conf");
            nodes.push(node);
        }
        for node in &mut nodes {
            node.child = Some(spawn(&node.config(), &[], node.port));
        }
        let cluster = NatsCluster { nodes, _dir: None };
        cluster.wait_healthy(Duration::from_secs(60)).await;
        cluster
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's client URL, comma-separated (what `HERALD_NATS_URL` takes).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server name of node `i` (`n<i>`), as JetStream reports leaders.
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// What node `i` has logged so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("nats-server.log")).unwrap_or_default()
    }

    /// `kill -9` of node `i` (a paused node too: SIGKILL needs no cooperation).
    pub fn kill9(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Starts node `i` again with its configuration and what it had stored.
    pub fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} is still running", node.name);
        node.child = Some(spawn(&node.config(), &[], node.port));
    }

    /// `SIGSTOP` of node `i`: its sockets stay open, it answers nothing.
    pub fn pause(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = node.child.as_ref().expect("a running node");
        crate::signal(child.id(), "STOP");
        node.paused = true;
    }

    /// `SIGCONT` of a node paused by `pause`.
    pub fn resume(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = node.child.as_ref().expect("a running node");
        crate::signal(child.id(), "CONT");
        node.paused = false;
    }

    /// Lame-duck mode of node `i` (`SIGUSR2`, what `nats-server --signal ldm` sends and what a
    /// Kubernetes preStop hook runs before a planned restart): it hands the leadership of every
    /// stream and bucket it leads to another node, stops JetStream, closes its clients one by
    /// one and exits.
    pub fn lame_duck(&mut self, i: usize) {
        let node = &self.nodes[i];
        let child = node.child.as_ref().expect("a running node");
        crate::signal(child.id(), "USR2");
    }

    /// Waits until node `i` has exited by itself (after `lame_duck`); kills it if it has not
    /// after `within`. Whether it exited by itself.
    pub async fn wait_exit(&mut self, i: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let node = &mut self.nodes[i];
            match node.child.as_mut().map(|c| c.try_wait()) {
                None => return true,
                Some(Ok(Some(_))) => {
                    node.child = None;
                    return true;
                }
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                self.kill9(i);
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether node `i` answers `/healthz` with 200: running, JetStream current with its meta
    /// leader and with the streams it replicates.
    pub async fn is_healthy(&self, i: usize) -> bool {
        let node = &self.nodes[i];
        if node.child.is_none() || node.paused {
            return false;
        }
        let port = node.monitor_port;
        let probe = async move {
            let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            socket
                .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .ok()?;
            let mut head = vec![0u8; 64];
            let n = socket.read(&mut head).await.ok()?;
            let status = String::from_utf8_lossy(&head[..n]).into_owned();
            Some(status.split_whitespace().nth(1) == Some("200"))
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Some(true))
        )
    }

    /// Waits until every node is healthy (e.g. a restarted node has caught up), or panics.
    pub async fn wait_healthy(&self, within: Duration) {
        crate::eventually(within, "every NATS node healthy", || async {
            for i in 0..self.nodes.len() {
                if !self.is_healthy(i).await {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// The node leading `stream`'s replicas, as the stream's leader answers
    /// `$JS.API.STREAM.INFO.<stream>`; `None` while there is none (an election) or no node answers.
    pub async fn stream_leader(&self, stream: &str) -> Option<usize> {
        let cluster = self.stream_clusters(&[stream]).await?.pop()?;
        let leader = cluster.leader?;
        self.nodes.iter().position(|n| n.name == leader)
    }

    /// Whether every one of `streams` (KV buckets as `KV_<bucket>`) has a leader and every other
    /// node as a current, online replica: the cluster is whole again, not merely answering.
    pub async fn replicated(&self, streams: &[&str]) -> bool {
        let Some(clusters) = self.stream_clusters(streams).await else {
            return false;
        };
        clusters.iter().all(|cluster| {
            cluster.leader.is_some()
                && cluster.replicas.len() + 1 == self.nodes.len()
                && cluster.replicas.iter().all(|r| r.current && !r.offline)
        })
    }

    /// The clusters of `streams` as their leaders report them, asked over one connection to
    /// a running node; `None` while one has no leader or nothing answers within 5 s.
    async fn stream_clusters(&self, streams: &[&str]) -> Option<Vec<async_nats::jetstream::stream::ClusterInfo>> {
        let addrs: Vec<async_nats::ServerAddr> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .filter_map(|n| format!("nats://127.0.0.1:{}", n.port).parse().ok())
            .collect();
        let ask = async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(2))
                .connect(addrs)
                .await
                .ok()?;
            let js = async_nats::jetstream::new(client);
            let mut clusters = Vec::with_capacity(streams.len());
            for stream in streams {
                clusters.push(js.get_stream(stream).await.ok()?.cached_info().cluster.clone()?);
            }
            Some(clusters)
        };
        tokio::time::timeout(Duration::from_secs(5), ask).await.ok().flatten()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
