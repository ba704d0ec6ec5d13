//! The store's own metrics, recorded alike by every backend: how long each call took and whether
//! it failed, by operation (`read`, `write`, `checkpoint`).

use std::time::Instant;

/// Records one call of `op` that started at `started`.
pub(crate) fn call(op: &'static str, started: Instant, failed: bool) {
    metrics::histogram!("herald_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
    if failed {
        metrics::counter!("herald_store_errors_total", "op" => op).increment(1);
    }
}
