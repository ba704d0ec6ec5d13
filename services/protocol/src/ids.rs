//! Newtype ids with parsing constructors: an id that exists has been checked.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Longest accepted app, session or conversation id, in bytes.
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} is longer than {MAX_ID_LEN} bytes")]
    TooLong(&'static str),
    #[error("{0} contains control characters")]
    Control(&'static str),
    #[error("{0} is not a valid id")]
    Malformed(&'static str),
}

fn check(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty(kind));
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(kind));
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::Control(kind));
    }
    Ok(())
}

/// A shared, immutable id: cloning one (every batch, route and push names its app, conversation
/// and sessions several times) bumps a count instead of copying the string.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value)?;
                Ok(Self(Arc::from(value)))
            }

            /// Parses a borrowed string: one allocation, no intermediate `String`.
            pub fn parse_str(value: &str) -> Result<Self, IdError> {
                check($kind, value)?;
                Ok(Self(Arc::from(value)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", $kind))
                    }
                    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<$name, E> {
                        $name::parse_str(value).map_err(E::custom)
                    }
                }
                d.deserialize_str(Visit)
            }
        }
    };
}

string_id!(
    /// A tenant. Everything belongs to exactly one app.
    AppId,
    "app id"
);
string_id!(
    /// An end user of an app, named by the app (seed 001 `session`, seed 000 `linkKey`).
    SessionId,
    "session"
);
string_id!(
    /// A conversation, unique within its app.
    ConvId,
    "conversation id"
);
string_id!(
    /// One gateway process; deliveries and acks for its connections are addressed to it.
    GatewayId,
    "gateway id"
);

/// A message id: a Snowflake (time-ordered, unique across the cluster). On the wire always a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId(pub u64);

impl MsgId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        value
            .parse::<u64>()
            .map(MsgId)
            .map_err(|_| IdError::Malformed("message id"))
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for MsgId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        MsgId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Device class: 1 iOS, 2 Android, 3 web, 4 desktop, … any 0–255.
pub type Platform = u8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_long_and_control() {
        assert!(SessionId::parse("").is_err());
        assert!(SessionId::parse("a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(SessionId::parse("a\nb").is_err());
        assert_eq!(SessionId::parse("alice").unwrap().as_str(), "alice");
    }

    #[test]
    fn msg_id_is_a_string_on_the_wire() {
        let id = MsgId(u64::MAX);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", u64::MAX));
        assert_eq!(serde_json::from_str::<MsgId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<MsgId>("\"x\"").is_err());
    }
}
