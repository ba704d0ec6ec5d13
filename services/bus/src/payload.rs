//! What a bus message carries: MessagePack bytes, or, inside one process, the value itself.
//!
//! A value is serialized only when it crosses a process boundary (the NATS backend calls
//! [`Payload::encoded`]); the in-process bus hands the value over as it is, so `herald up`
//! without NATS encodes and decodes no command, event, ack or delivery. A reader asks for the
//! type it expects with [`Payload::decode`] and gets it either way.

use bytes::Bytes;
use herald_protocol::codec::{self, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct Payload(Inner);

#[derive(Clone)]
enum Inner {
    Bytes(Bytes),
    Value {
        value: Arc<dyn Any + Send + Sync>,
        /// Serializes `value` (monomorphized for its type when the payload was made).
        encode: fn(&(dyn Any + Send + Sync)) -> Result<Vec<u8>, CodecError>,
        type_name: &'static str,
    },
}

impl Payload {
    /// A value handed over in-process, serialized only if it leaves the process.
    pub fn value<T: Serialize + Send + Sync + 'static>(value: T) -> Self {
        fn encode<T: Serialize + 'static>(value: &(dyn Any + Send + Sync)) -> Result<Vec<u8>, CodecError> {
            let value = value
                .downcast_ref::<T>()
                .expect("a payload encodes the type it was made of");
            codec::encode(value)
        }
        Self(Inner::Value {
            value: Arc::new(value),
            encode: encode::<T>,
            type_name: std::any::type_name::<T>(),
        })
    }

    /// The bytes to put on the wire (a value is serialized here).
    pub fn encoded(&self) -> Result<Bytes, CodecError> {
        match &self.0 {
            Inner::Bytes(bytes) => Ok(bytes.clone()),
            Inner::Value { value, encode, .. } => encode(value.as_ref()).map(Bytes::from),
        }
    }

    /// The payload as a `T`: the value itself when it is one (taken if this is its last holder,
    /// cloned otherwise), decoded when it is bytes. A value of another type goes through its
    /// encoding, as it would between processes.
    pub fn decode<T: DeserializeOwned + Clone + Send + Sync + 'static>(self) -> Result<T, CodecError> {
        match self.0 {
            Inner::Bytes(bytes) => codec::decode(&bytes),
            Inner::Value { value, encode, .. } => match value.downcast::<T>() {
                Ok(typed) => Ok(Arc::try_unwrap(typed).unwrap_or_else(|shared| T::clone(&shared))),
                Err(other) => codec::decode(&encode(other.as_ref())?),
            },
        }
    }

    /// True when it is a value (not yet serialized).
    pub fn is_value(&self) -> bool {
        matches!(self.0, Inner::Value { .. })
    }

    /// The payload as a `&T` when it is a value of that type (no copy), `None` otherwise.
    pub fn as_value<T: 'static>(&self) -> Option<&T> {
        match &self.0 {
            Inner::Value { value, .. } => value.downcast_ref::<T>(),
            Inner::Bytes(_) => None,
        }
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Self(Inner::Bytes(bytes))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Inner::Bytes(Bytes::from(bytes)))
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Bytes(bytes) => write!(f, "Payload({} bytes)", bytes.len()),
            Inner::Value { type_name, .. } => write!(f, "Payload({type_name})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
        n: u32,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Wider {
        text: String,
        n: u32,
        #[serde(default)]
        extra: Option<String>,
    }

    fn note() -> Note {
        Note {
            text: "hello".into(),
            n: 7,
        }
    }

    #[test]
    fn a_value_is_handed_over_without_encoding_and_encodes_as_bytes_would() {
        let payload = Payload::value(note());
        assert_eq!(payload.as_value::<Note>(), Some(&note()));
        let wire = payload.encoded().unwrap();
        assert_eq!(wire.as_ref(), codec::encode(&note()).unwrap().as_slice());
        assert_eq!(Payload::from(wire).decode::<Note>().unwrap(), note());
        assert_eq!(payload.decode::<Note>().unwrap(), note());
    }

    #[test]
    fn a_shared_value_is_cloned_for_each_reader() {
        let payload = Payload::value(note());
        let kept = payload.clone();
        assert_eq!(payload.decode::<Note>().unwrap(), note());
        assert_eq!(kept.as_value::<Note>(), Some(&note()));
    }

    #[test]
    fn a_value_of_another_type_goes_through_its_encoding() {
        let wider = Payload::value(note()).decode::<Wider>().unwrap();
        assert_eq!(
            wider,
            Wider {
                text: "hello".into(),
                n: 7,
                extra: None
            }
        );
        assert!(Payload::value(note()).decode::<u64>().is_err());
        assert!(Payload::from(Bytes::from_static(b"\xc1")).decode::<Note>().is_err());
    }
}
