//! Smoke runs of the peers (the servers Herald is compared with): each adapter speaks its
//! protocol — a short bounded `chat` of a few pairs with nothing lost, duplicated or
//! misordered. A peer that is not installed is skipped, saying so and how to install it.

mod ejabberd;
mod synapse;

use herald_loadtest::Report;

/// The checks every peer's run must pass: correctness only, never speed.
pub fn assert_correct(report: &Report) {
    println!("{}", report.details().join("\n"));
    println!("{}", report.summary());
    assert!(report.acked > 0, "nothing was acknowledged");
    assert!(report.delivered > 0, "nothing was delivered");
    assert_eq!(report.tally.lost, 0, "lost messages");
    assert_eq!(report.tally.duplicated, 0, "duplicated messages");
    assert_eq!(report.tally.misordered, 0, "misordered messages");
    assert_eq!(report.tally.acked_twice, 0, "a message acknowledged twice");
    assert_eq!(report.errors, 0, "errors: {:?}", report.error_samples);
    assert_eq!(
        report.disconnects, 0,
        "closed connections: {:?}",
        report.disconnect_samples
    );
    assert!(report.drained, "acks or receipts still missing at the end");
    assert!(report.is_correct());
}
