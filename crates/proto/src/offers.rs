//! Cutting a list of offers into OFFERS events that each stay under a size limit
//! (mesos-go refuses a RecordIO record above 4 MiB).

use prost::Message as _;
use prost::encoding::encoded_len_varint;

use crate::codec::encode;
use crate::content_type::ContentType;
use crate::v1::Offer;
use crate::v1::scheduler::{Event, event};

/// Offers cut into events, and those too large for any event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OfferEvents {
    /// OFFERS events, the offers in their original order, each event's encoding at
    /// most the limit.
    pub events: Vec<Event>,
    /// Offers whose event would exceed the limit even alone.
    pub oversized: Vec<Offer>,
}

/// An OFFERS event carrying `offers`.
pub fn offers_event(offers: Vec<Offer>) -> Event {
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers }),
        ..Event::default()
    }
}

/// Packs `offers`, in order, into as few OFFERS events as fit: each event's encoding
/// in `content_type` is at most `max_event_bytes` (the RecordIO payload, without its
/// header). An event is closed when the next offer would not fit in it.
pub fn split_offers(
    offers: Vec<Offer>,
    content_type: ContentType,
    max_event_bytes: usize,
) -> OfferEvents {
    let size = EventSize::new(content_type);
    let mut result = OfferEvents::default();
    let mut batch: Vec<Offer> = Vec::new();
    let mut batch_cost = 0;
    for offer in offers {
        let cost = size.offer_cost(&offer, content_type);
        if size.event_len(cost, 1) > max_event_bytes {
            result.oversized.push(offer);
            continue;
        }
        if !batch.is_empty() && size.event_len(batch_cost + cost, batch.len() + 1) > max_event_bytes
        {
            result.events.push(offers_event(std::mem::take(&mut batch)));
            batch_cost = 0;
        }
        batch.push(offer);
        batch_cost += cost;
    }
    if !batch.is_empty() {
        result.events.push(offers_event(batch));
    }
    result
}

/// The encoded length of an OFFERS event from the summed costs of its offers.
enum EventSize {
    /// Protobuf: the event without offers, plus the varint length prefix of the
    /// nested `Offers` message, plus each offer's key, length and bytes.
    Protobuf { empty_event: usize },
    /// JSON: the text around the offers' array, plus each offer's text and a comma
    /// between two.
    Json { around_offers: usize },
}

impl EventSize {
    fn new(content_type: ContentType) -> Self {
        match content_type {
            ContentType::Protobuf => EventSize::Protobuf {
                empty_event: offers_event(Vec::new()).encoded_len(),
            },
            ContentType::Json => {
                let probe = Offer::default();
                let one = encode(&offers_event(vec![probe.clone()]), ContentType::Json).len();
                let probe_len = encode(&probe, ContentType::Json).len();
                EventSize::Json {
                    around_offers: one.saturating_sub(probe_len),
                }
            }
        }
    }

    fn offer_cost(&self, offer: &Offer, content_type: ContentType) -> usize {
        match self {
            // Field 1 of `Offers`: a one-byte key, the length, the bytes.
            EventSize::Protobuf { .. } => prost::encoding::message::encoded_len(1, offer),
            EventSize::Json { .. } => encode(offer, content_type).len(),
        }
    }

    fn event_len(&self, offers_cost: usize, count: usize) -> usize {
        match self {
            // The empty event ends with a one-byte zero length for `Offers`.
            EventSize::Protobuf { empty_event } => {
                empty_event.saturating_sub(1) + encoded_len_varint(offers_cost as u64) + offers_cost
            }
            EventSize::Json { around_offers } => {
                around_offers + offers_cost + count.saturating_sub(1)
            }
        }
    }
}
