//! Turns `HERALD_TEST_SCYLLA` (set when the tests are built) into the `herald_test_scylla` cfg, so
//! the ScyllaDB conformance test shows as skipped, not passed, in a run without a node.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(herald_test_scylla)");
    println!("cargo::rerun-if-env-changed=HERALD_TEST_SCYLLA");
    if std::env::var_os("HERALD_TEST_SCYLLA").is_some_and(|nodes| !nodes.is_empty()) {
        println!("cargo::rustc-cfg=herald_test_scylla");
    }
}
