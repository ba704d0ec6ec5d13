//! Other chat servers under the harness's workloads, side by side with Herald.

pub mod synapse;
