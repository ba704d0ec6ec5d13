//! The XMPP client stream as the harness reads it: one endless XML document whose children of
//! `<stream:stream>` are the stanzas (RFC 6120). Only what the chat workload needs is decoded —
//! SASL outcome, iq results, stream-management acks and requests (XEP-0198), message bodies;
//! everything else is `Other`, so a server that says more than expected is not an error.

use anyhow::{Context, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use tokio::io::{AsyncRead, BufReader};

/// Stream namespaces and the stanzas the harness writes.
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_SM: &str = "urn:xmpp:sm:3";

/// The header that opens (and, after SASL, restarts) the client's stream to `domain`.
pub fn stream_header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
}

/// One top-level element of the server's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stanza {
    /// `<stream:stream>` opened (at the start and after each restart).
    StreamOpened,
    /// `<stream:features>` complete.
    Features,
    /// SASL `<success/>`.
    Success,
    /// SASL `<failure>` or a `<stream:error>`: what went wrong, by the first child's name.
    Failure(String),
    /// `<iq>` with its type and id.
    Iq { kind: String, id: String },
    /// XEP-0198 `<enabled/>`.
    Enabled,
    /// XEP-0198 `<a h='…'/>`: the server has handled `h` of the client's stanzas.
    Ack(u32),
    /// XEP-0198 `<r/>`: the server asks how many of its stanzas the client has handled.
    Request,
    /// `<message>`: its type and body text (`None` without a body).
    Message { kind: String, body: Option<String> },
    /// `<presence>` (counted for stream management, otherwise ignored).
    Presence,
    /// `</stream:stream>` or the end of the connection.
    End,
    /// Anything else, by name.
    Other(String),
}

impl Stanza {
    /// Stanzas count for stream management (XEP-0198 §4: message, presence, iq); nonzas do not.
    pub fn counts(&self) -> bool {
        matches!(self, Stanza::Iq { .. } | Stanza::Message { .. } | Stanza::Presence)
    }
}

/// The element being read below `<stream:stream>`.
struct Open {
    stanza: Stanza,
    /// Inside the message's `<body>`.
    in_body: bool,
}

/// Reads stanzas off a stream, one at a time.
pub struct StanzaReader<R> {
    reader: Reader<BufReader<R>>,
    buf: Vec<u8>,
    /// Elements open below the stream element (1: inside a stanza).
    depth: usize,
    open: Option<Open>,
}

fn attr(e: &BytesStart<'_>, name: &str) -> String {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .map(|a| a.value.into_owned())
        .unwrap_or_default()
}

/// What a top-level element is, from its start tag.
fn classify(e: &BytesStart<'_>) -> Stanza {
    match e.name().as_ref() {
        "stream:features" => Stanza::Features,
        "success" => Stanza::Success,
        "failure" | "stream:error" => Stanza::Failure(String::new()),
        "iq" => Stanza::Iq {
            kind: attr(e, "type"),
            id: attr(e, "id"),
        },
        "enabled" => Stanza::Enabled,
        "a" => Stanza::Ack(attr(e, "h").parse().unwrap_or(0)),
        "r" => Stanza::Request,
        "message" => Stanza::Message {
            kind: attr(e, "type"),
            body: None,
        },
        "presence" => Stanza::Presence,
        other => Stanza::Other(other.to_owned()),
    }
}

impl<R: AsyncRead + Unpin> StanzaReader<R> {
    pub fn new(read: R) -> Self {
        let mut reader = Reader::from_reader(BufReader::with_capacity(64 * 1024, read));
        // the stream restarts after SASL without closing: the first `<stream:stream>` never ends
        reader.config_mut().check_end_names = false;
        Self {
            reader,
            buf: Vec::with_capacity(4096),
            depth: 0,
            open: None,
        }
    }

    /// The next complete top-level element.
    pub async fn next(&mut self) -> anyhow::Result<Stanza> {
        loop {
            self.buf.clear();
            let event = self
                .reader
                .read_event_into_async(&mut self.buf)
                .await
                .context("reading the XMPP stream")?;
            match event {
                Event::Start(e) if e.name().as_ref() == "stream:stream" => {
                    self.depth = 0;
                    self.open = None;
                    return Ok(Stanza::StreamOpened);
                }
                Event::End(e) if e.name().as_ref() == "stream:stream" => return Ok(Stanza::End),
                Event::Eof => return Ok(Stanza::End),
                Event::Empty(e) => {
                    if self.depth == 0 {
                        return Ok(classify(&e));
                    }
                    if let Some(open) = &mut self.open
                        && let Stanza::Failure(why) = &mut open.stanza
                        && why.is_empty()
                    {
                        *why = e.name().as_ref().to_owned();
                    }
                }
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth == 1 {
                        self.open = Some(Open {
                            stanza: classify(&e),
                            in_body: false,
                        });
                    } else if let Some(open) = &mut self.open {
                        match &mut open.stanza {
                            Stanza::Message { .. } if self.depth == 2 && e.name().as_ref() == "body" => {
                                open.in_body = true;
                            }
                            Stanza::Failure(why) if why.is_empty() => {
                                *why = e.name().as_ref().to_owned();
                            }
                            _ => {}
                        }
                    }
                }
                Event::Text(text) => {
                    if let Some(Open {
                        stanza: Stanza::Message { body, .. },
                        in_body: true,
                    }) = &mut self.open
                    {
                        // bodies the harness writes are ASCII without entities
                        body.get_or_insert_with(String::new).push_str(&text);
                    }
                }
                Event::End(_) => {
                    if self.depth == 0 {
                        bail!("an end tag with no element open in the XMPP stream");
                    }
                    self.depth -= 1;
                    match self.depth {
                        0 => {
                            if let Some(open) = self.open.take() {
                                return Ok(open.stanza);
                            }
                        }
                        1 => {
                            if let Some(open) = &mut self.open {
                                open.in_body = false;
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads until `wanted` says yes; a failure or the end of the stream is an error.
    pub async fn expect(&mut self, what: &str, wanted: impl Fn(&Stanza) -> bool) -> anyhow::Result<Stanza> {
        loop {
            let stanza = self.next().await?;
            if wanted(&stanza) {
                return Ok(stanza);
            }
            match stanza {
                Stanza::Failure(why) => bail!("waiting for {what}: the server failed: {why}"),
                Stanza::End => bail!("waiting for {what}: the server closed the stream"),
                Stanza::Iq { kind, id } if kind == "error" => bail!("waiting for {what}: iq {id} failed"),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(text: &str) -> Vec<Stanza> {
        let mut reader = StanzaReader::new(text.as_bytes());
        let mut out = Vec::new();
        loop {
            let stanza = reader.next().await.unwrap();
            if stanza == Stanza::End {
                return out;
            }
            out.push(stanza);
        }
    }

    #[tokio::test]
    async fn reads_a_login_and_a_restart() {
        let stream = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' id='1' version='1.0'>\
            <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>PLAIN</mechanism></mechanisms></stream:features>\
            <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
            <?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' id='2' version='1.0'>\
            <stream:features/><iq type='result' id='b1'><bind/></iq><enabled xmlns='urn:xmpp:sm:3'/>";
        assert_eq!(
            read_all(stream).await,
            vec![
                Stanza::StreamOpened,
                Stanza::Features,
                Stanza::Success,
                Stanza::StreamOpened,
                Stanza::Features,
                Stanza::Iq {
                    kind: "result".into(),
                    id: "b1".into()
                },
                Stanza::Enabled,
            ]
        );
    }

    #[tokio::test]
    async fn reads_messages_acks_and_requests() {
        let stream = "<stream:stream><message from='a@h/x' to='b@h' type='chat' id='9'>\
            <body>12 3 xx</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>\
            <a xmlns='urn:xmpp:sm:3' h='42'/><r xmlns='urn:xmpp:sm:3'/><presence from='a@h'/>\
            <message type='error'><error><x/></error></message></stream:stream>";
        assert_eq!(
            read_all(stream).await,
            vec![
                Stanza::StreamOpened,
                Stanza::Message {
                    kind: "chat".into(),
                    body: Some("12 3 xx".into())
                },
                Stanza::Ack(42),
                Stanza::Request,
                Stanza::Presence,
                Stanza::Message {
                    kind: "error".into(),
                    body: None
                },
            ]
        );
    }

    #[tokio::test]
    async fn names_a_failure_by_its_condition() {
        let stream = "<stream:stream><failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <not-authorized/></failure>";
        let mut reader = StanzaReader::new(stream.as_bytes());
        let err = reader.expect("success", |s| *s == Stanza::Success).await.unwrap_err();
        assert!(err.to_string().contains("not-authorized"), "{err}");
    }
}
