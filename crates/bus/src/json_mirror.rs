//! The JSON mirror: every event and progress report xregion publishes is
//! also published, as JSON, on `<ns>.json.<same tokens>` (core NATS), so a
//! dashboard in any language can follow them without protobuf code.
//!
//! The mirror is best-effort and live only: it is sent after the protobuf
//! copy is stored (never for a duplicate), is not kept by any stream, and is
//! lost if its publisher stops in between. The protobuf `XREGION_EVENTS`
//! stream stays the durable record. The payload is an envelope naming the
//! type, service, tenant and time, with the message in protobuf's canonical
//! JSON mapping (lowerCamelCase names, enums by name, 64-bit integers as
//! strings, timestamps in RFC 3339, unset fields written with their
//! defaults); see the README's "Events as JSON".

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{json, Map, Value};
use xregion_proto::Timestamp;

use crate::any_event::AnyEvent;
use crate::names::Namespace;

/// Header naming the protobuf type of a mirrored message.
pub const TYPE_HEADER: &str = "Xregion-Type";

/// One mirrored message: where it goes and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    pub subject: String,
    pub type_name: &'static str,
    pub json: Value,
}

/// Where a stored copy lives in its stream, for events (progress has none).
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub msg_id: &'a str,
    pub sequence: u64,
}

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(xregion_proto::FILE_DESCRIPTOR_SET).ok());

/// The canonical mapping with defaults written, built once.
static OPTIONS: LazyLock<SerializeOptions> =
    LazyLock::new(|| SerializeOptions::new().skip_default_fields(false));

/// The seconds the canonical mapping can write (0001-01-01 to 9999-12-31).
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// The mirror of a published message; `None` when the subject is neither an
/// event nor progress, or the payload does not decode.
pub fn mirror(
    ns: &Namespace,
    subject: &str,
    stored: Option<Stored<'_>>,
    payload: &[u8],
) -> Option<Mirror> {
    let event = AnyEvent::decode(ns, subject, payload)?;
    let type_name = event.type_name();
    let mut envelope = Map::new();
    envelope.insert("type".into(), json!(type_name));
    envelope.insert("subject".into(), json!(subject));
    if let Some(s) = stored {
        envelope.insert("msgId".into(), json!(s.msg_id));
        // A string, like every 64-bit integer of the canonical mapping.
        envelope.insert("sequence".into(), json!(s.sequence.to_string()));
    }
    envelope.insert("serviceId".into(), json!(event.service_id()));
    envelope.insert("tenantId".into(), json!(event.tenant_id()));
    envelope.insert("time".into(), event.time().map_or(Value::Null, rfc3339));
    envelope.insert("event".into(), canonical(type_name, payload)?);
    Some(Mirror {
        subject: ns.json_subject(subject),
        type_name,
        json: Value::Object(envelope),
    })
}

/// A protobuf message in the canonical JSON mapping, defaults included.
fn canonical(type_name: &str, payload: &[u8]) -> Option<Value> {
    let desc = POOL.as_ref()?.get_message_by_name(type_name)?;
    let msg = DynamicMessage::decode(desc, payload).ok()?;
    msg.serialize_with_options(serde_json::value::Serializer, &OPTIONS)
        .ok()
}

/// A timestamp as the canonical mapping writes it (RFC 3339, UTC, 0, 3, 6
/// or 9 fractional digits: prost-types' `Display`); null where the mapping
/// has no text for it (out of range, nanos not in 0..1e9).
fn rfc3339(t: &Timestamp) -> Value {
    if TIMESTAMP_SECONDS.contains(&t.seconds) && (0..1_000_000_000).contains(&t.nanos) {
        Value::String(t.to_string())
    } else {
        Value::Null
    }
}

/// Publishes the mirror of a message just published, if it has one. Never
/// fails the caller: the protobuf copy is what counts.
pub(crate) async fn publish(
    client: &async_nats::Client,
    ns: &Namespace,
    subject: &str,
    stored: Option<Stored<'_>>,
    payload: &[u8],
) {
    let Some(m) = mirror(ns, subject, stored, payload) else {
        return;
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    headers.insert(TYPE_HEADER, m.type_name);
    let body = m.json.to_string();
    if let Err(error) = client
        .publish_with_headers(m.subject, headers, body.into())
        .await
    {
        tracing::debug!(%error, subject, "json mirror not published");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message;
    use xregion_proto::convert::timestamp;
    use xregion_proto::xregion::v1 as pb;

    use super::*;
    use crate::events::Publishable;

    fn ns() -> Namespace {
        Namespace::new("xregion", "rds").unwrap()
    }

    #[test]
    fn an_event_is_mirrored_in_the_canonical_mapping_with_its_envelope() {
        let synced = pb::BackupSynced {
            service: Some(pb::ServiceRef {
                service_id: "s1".into(),
                tenant_id: "t1".into(),
                engine: pb::Engine::Mysql as i32,
                ..Default::default()
            }),
            bytes: 5_000_000_000,
            synced_at: Some(timestamp(1_700_000_000_123)),
            ..Default::default()
        };
        let subject = synced.subject(&ns()).unwrap();
        let stored = Stored {
            msg_id: "synced:s1:",
            sequence: 42,
        };
        let m = mirror(&ns(), &subject, Some(stored), &synced.encode_to_vec()).unwrap();
        assert_eq!(m.subject, "xregion.json.events.backup.synced");
        let j = &m.json;
        assert_eq!(j["type"], "xregion.v1.BackupSynced");
        assert_eq!(j["subject"], "xregion.events.backup.synced");
        assert_eq!(j["msgId"], "synced:s1:");
        assert_eq!(j["sequence"], "42");
        assert_eq!(
            (&j["serviceId"], &j["tenantId"]),
            (&json!("s1"), &json!("t1"))
        );
        assert_eq!(j["time"], "2023-11-14T22:13:20.123Z");
        let e = &j["event"];
        assert_eq!(e["service"]["engine"], "ENGINE_MYSQL");
        assert_eq!(e["bytes"], "5000000000");
        assert_eq!(e["syncedAt"], "2023-11-14T22:13:20.123Z");
        // Defaults are written, so a reader need not know proto3's rules.
        assert_eq!(e["durationMs"], "0");
        assert_eq!(e["manifestKey"], "");
    }

    #[test]
    fn progress_is_mirrored_without_a_stream_position() {
        let p = pb::TransferProgress {
            service_id: "s1".into(),
            backup_id: "b1".into(),
            tenant_id: "t1".into(),
            bytes_done: 10,
            sent_at: Some(timestamp(0)),
            ..Default::default()
        };
        let subject = ns().progress_subject("s1", "b1");
        let m = mirror(&ns(), &subject, None, &p.encode_to_vec()).unwrap();
        assert_eq!(m.subject, "xregion.json.progress.s1.b1");
        assert_eq!(m.json["tenantId"], "t1");
        assert_eq!(m.json["time"], "1970-01-01T00:00:00Z");
        assert_eq!(m.json["event"]["bytesDone"], "10");
        assert_eq!(m.json["event"]["filesDone"], 0);
        assert_eq!(m.json["event"]["done"], false);
        assert!(m.json.get("sequence").is_none());
    }

    #[test]
    fn jobs_and_dead_letters_are_not_mirrored() {
        for subject in [
            "xregion.transfer.r1.log",
            "xregion.deadletter.d",
            "rds.r1.backup.created",
        ] {
            assert!(mirror(&ns(), subject, None, &[]).is_none(), "{subject}");
        }
    }

    #[test]
    fn an_event_without_a_time_says_null() {
        let e = pb::BackupExpired {
            service_id: "s1".into(),
            ..Default::default()
        };
        let subject = e.subject(&ns()).unwrap();
        let m = mirror(&ns(), &subject, None, &e.encode_to_vec()).unwrap();
        assert_eq!(m.json["time"], Value::Null);
        assert_eq!(m.json["event"]["expiredAt"], Value::Null);
    }

    #[test]
    fn a_time_the_canonical_mapping_cannot_write_says_null() {
        for t in [
            Timestamp {
                seconds: 253_402_300_800,
                nanos: 0,
            },
            Timestamp {
                seconds: 0,
                nanos: -1,
            },
        ] {
            assert_eq!(rfc3339(&t), Value::Null, "{t:?}");
        }
        let max = Timestamp {
            seconds: 253_402_300_799,
            nanos: 999_999_999,
        };
        assert_eq!(rfc3339(&max), "9999-12-31T23:59:59.999999999Z");
    }
}
