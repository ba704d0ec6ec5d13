//! Request fields whose type the client may get wrong without the whole parameter being refused:
//! a `Scalar` keeps what was sent, and the gateway decides what it means (an integer `msgType` or
//! one of its names, a message id as text or number, a numeric conversation type).

use crate::MsgId;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One value as the client sent it: null (or absent), a boolean, a number, a text, or anything
/// else (a list or an object, kept only as "something else").
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scalar {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Other,
}

/// `msgType` was neither an integer nor one of its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadMsgType;

/// Why a message id field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadMsgId {
    /// Neither a text nor a number.
    WrongType,
    /// A text or number that is not a message id.
    Malformed,
}

impl Scalar {
    /// The value as an `i64`, if it is an integer that fits one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::Int(n) => Some(n),
            Scalar::UInt(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    /// The value as text, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value as a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A message's `Type` (seed 000's names, or the integer); absent means text (1).
    pub fn msg_type(&self) -> Result<i32, BadMsgType> {
        match self {
            Scalar::Null => Ok(1),
            Scalar::Text(name) => match name.as_str() {
                "text" => Ok(1),
                "image" => Ok(2),
                "video" => Ok(3),
                "audio" => Ok(4),
                "duration" => Ok(5),
                "location" => Ok(6),
                "others" => Ok(0),
                _ => Err(BadMsgType),
            },
            other => other.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or(BadMsgType),
        }
    }

    /// A message id, given as its decimal text or as a number.
    pub fn msg_id(&self) -> Result<MsgId, BadMsgId> {
        let parsed = match self {
            Scalar::Text(text) => MsgId::parse(text).ok(),
            Scalar::Int(n) => u64::try_from(*n).ok().map(MsgId),
            Scalar::UInt(n) => Some(MsgId(*n)),
            Scalar::Float(_) => None,
            _ => return Err(BadMsgId::WrongType),
        };
        parsed.ok_or(BadMsgId::Malformed)
    }

    /// The app's own conversation tag: an integer, or a numeric text; absent means 0.
    pub fn conv_type(&self) -> Option<i64> {
        match self {
            Scalar::Null => Some(0),
            Scalar::Text(text) => text.trim().parse().ok(),
            other => other.as_i64(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        Scalar::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Null | Scalar::Other => s.serialize_unit(),
            Scalar::Bool(b) => s.serialize_bool(*b),
            Scalar::Int(n) => s.serialize_i64(*n),
            Scalar::UInt(n) => s.serialize_u64(*n),
            Scalar::Float(n) => s.serialize_f64(*n),
            Scalar::Text(text) => s.serialize_str(text),
        }
    }
}

/// For `Option<Option<T>>` fields: `None` when the key is absent, `Some(None)` when it is null.
/// Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(json: &str) -> Scalar {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn msg_types_by_name_or_number() {
        assert_eq!(scalar("null").msg_type(), Ok(1));
        assert_eq!(scalar("\"image\"").msg_type(), Ok(2));
        assert_eq!(scalar("7").msg_type(), Ok(7));
        assert_eq!(scalar("-3").msg_type(), Ok(-3));
        for bad in ["1.0", "\"gif\"", "true", "[1]", "4294967296"] {
            assert_eq!(scalar(bad).msg_type(), Err(BadMsgType), "{bad}");
        }
    }

    #[test]
    fn message_ids_as_text_or_number() {
        assert_eq!(scalar("\"42\"").msg_id(), Ok(MsgId(42)));
        assert_eq!(scalar("42").msg_id(), Ok(MsgId(42)));
        assert_eq!(scalar("-1").msg_id(), Err(BadMsgId::Malformed));
        assert_eq!(scalar("1.5").msg_id(), Err(BadMsgId::Malformed));
        assert_eq!(scalar("\"x\"").msg_id(), Err(BadMsgId::Malformed));
        assert_eq!(scalar("{}").msg_id(), Err(BadMsgId::WrongType));
        assert_eq!(scalar("null").msg_id(), Err(BadMsgId::WrongType));
    }

    #[test]
    fn conversation_types() {
        assert_eq!(scalar("null").conv_type(), Some(0));
        assert_eq!(scalar("\" 12 \"").conv_type(), Some(12));
        assert_eq!(scalar("-4").conv_type(), Some(-4));
        assert_eq!(scalar("1.5").conv_type(), None);
        assert_eq!(scalar("18446744073709551615").conv_type(), None);
    }
}
