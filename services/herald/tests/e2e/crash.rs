//! Crash tests: `kill -9` of the sequencer that owns a conversation (cluster, separate
//! processes) and of the all-in-one process; nothing acknowledged is lost or duplicated, and a
//! retry after the crash answers the original message.
