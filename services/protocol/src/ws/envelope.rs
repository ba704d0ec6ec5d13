//! The envelope of a client frame: `action`, `reqId` and `linkKey`, read from the frame's bytes
//! (JSON text or MessagePack) without reading `param` or `data`. Whatever the frame holds, a
//! reply can then echo its `action` and `reqId`; the parameters are parsed afterwards, once the
//! action is known (`Request::parse`).

use super::fields::Scalar;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// What a client speaks: JSON text frames, or MessagePack binary frames (replies follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    MsgPack,
}

impl Format {
    /// Decodes `bytes` straight into `T`; the text is the decoder's reason.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Format::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Format::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}

/// The envelope of a well-formed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub action: String,
    /// Echoed as sent (any value; null when absent).
    pub req_id: Value,
    pub link_key: Option<String>,
}

/// A frame that is not a request; `action` and `req_id` are what could be read of them, for the
/// error reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    pub action: String,
    pub req_id: Value,
    pub reason: String,
}

impl Envelope {
    /// Reads the envelope of a frame. Bytes that are not JSON (MessagePack) at all are
    /// "malformed JSON" ("malformed MessagePack"); a value that is not a request object, or a
    /// request without a text `action` or with a `linkKey` that is not text, is "malformed request".
    pub fn parse(bytes: &[u8], format: Format) -> Result<Envelope, Malformed> {
        let fields: Fields = format.decode(bytes).map_err(|err| Malformed {
            action: String::new(),
            req_id: Value::Null,
            reason: match format {
                Format::Json => format!("malformed JSON: {err}"),
                Format::MsgPack => format!("malformed MessagePack: {err}"),
            },
        })?;
        let (action, req_id, link_key) = match fields {
            Fields::Object {
                action,
                req_id,
                link_key,
            } => (action, req_id, link_key),
            Fields::NotObject(what) => {
                return Err(Malformed {
                    action: String::new(),
                    req_id: Value::Null,
                    reason: format!("malformed request: invalid type: {what}, expected a request object"),
                });
            }
        };
        let malformed = |action: String, reason: &str| Malformed {
            action,
            req_id: req_id.clone(),
            reason: format!("malformed request: {reason}"),
        };
        let action = match action {
            Scalar::Text(action) => action,
            Scalar::Null => return Err(malformed(String::new(), "missing field `action`")),
            _ => return Err(malformed(String::new(), "action must be a string")),
        };
        let link_key = match link_key {
            Scalar::Null => None,
            Scalar::Text(key) => Some(key),
            _ => return Err(malformed(action, "linkKey must be a string")),
        };
        Ok(Envelope {
            action,
            req_id,
            link_key,
        })
    }
}

/// The envelope fields of any decodable value.
enum Fields {
    Object {
        action: Scalar,
        req_id: Value,
        link_key: Scalar,
    },
    /// Not an object: what it was instead.
    NotObject(&'static str),
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let (mut action, mut req_id, mut link_key) = (Scalar::Null, Value::Null, Scalar::Null);
        // a repeated key counts once, its last value (as a JSON object would read)
        while let Some(key) = map.next_key::<Scalar>()? {
            match key.as_text() {
                Some("action") => action = map.next_value()?,
                Some("reqId") => req_id = map.next_value()?,
                Some("linkKey") => link_key = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Fields::Object {
            action,
            req_id,
            link_key,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Fields, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Fields::NotObject("a sequence"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Fields, E> {
        Ok(Fields::NotObject("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields, E> {
        Ok(Fields::NotObject("an integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields, E> {
        Ok(Fields::NotObject("an integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields, E> {
        Ok(Fields::NotObject("a floating point number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields, E> {
        Ok(Fields::NotObject("a string"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Fields, E> {
        Ok(Fields::NotObject("a byte array"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
        Ok(Fields::NotObject("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Fields, E> {
        Ok(Fields::NotObject("null"))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Fields, D::Error> {
        Fields::deserialize(d)
    }
}
