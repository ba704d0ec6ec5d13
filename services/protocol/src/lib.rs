//! Herald's wire and bus types: ids, client frames, bus payloads and their codecs. No I/O.

pub mod bus;
pub mod codec;
pub mod error_code;
pub mod ids;
pub mod msg;
pub mod partition;
pub mod text;
pub mod timefmt;
pub mod ws;

pub use error_code::ErrorCode;
pub use ids::{AppId, ConvId, GatewayId, IdError, MsgId, Platform, SessionId};
pub use msg::{ConvKind, MessageRecord, MsgData};
pub use text::Text;
