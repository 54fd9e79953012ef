//! Offers cut into OFFERS events under a byte limit.

mod common;

use mesos_proto::offers::{offers_event, split_offers};
use mesos_proto::v1;
use mesos_proto::{ContentType, encode};
use proptest::prelude::*;

/// An offer of about `ports` × 20 bytes: one RANGES resource of `ports` ranges.
fn offer(id: usize, ports: u64) -> v1::Offer {
    v1::Offer {
        id: v1::OfferId {
            value: format!("O{id}"),
        },
        framework_id: v1::FrameworkId { value: "f1".into() },
        agent_id: v1::AgentId {
            value: format!("S{id}"),
        },
        hostname: format!("node-{id}"),
        resources: vec![v1::Resource {
            name: "ports".into(),
            r#type: v1::value::Type::Ranges as i32,
            ranges: Some(v1::value::Ranges {
                range: (0..ports)
                    .map(|p| v1::value::Range {
                        begin: 31000 + 2 * p,
                        end: 31000 + 2 * p,
                    })
                    .collect(),
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn offers_of(events: &[v1::scheduler::Event]) -> Vec<v1::Offer> {
    events
        .iter()
        .flat_map(|e| e.offers.clone().map(|o| o.offers).unwrap_or_default())
        .collect()
}

#[test]
fn many_offers_fit_in_as_few_events_as_the_limit_allows() {
    // The real limit is MESOS_GO_MAX_RECORD_BYTES; a smaller one keeps the test quick.
    const LIMIT: usize = 64 << 10;
    let offers: Vec<v1::Offer> = (0..300).map(|i| offer(i, 50)).collect();
    for content_type in [ContentType::Protobuf, ContentType::Json] {
        let split = split_offers(offers.clone(), content_type, LIMIT);
        assert!(split.oversized.is_empty());
        let sizes: Vec<usize> = split
            .events
            .iter()
            .map(|e| encode(e, content_type).len())
            .collect();
        assert!(
            sizes.iter().all(|&s| s <= LIMIT),
            "{content_type}: {sizes:?}"
        );
        let whole = encode(&offers_event(offers.clone()), content_type).len();
        assert!(whole > 2 * LIMIT, "{content_type}: {whole} bytes");
        // Greedy packing of equal offers: at most one event more than the bytes need.
        assert!(
            split.events.len() <= whole.div_ceil(LIMIT) + 1,
            "{content_type}: {sizes:?}"
        );
        assert_eq!(offers_of(&split.events), offers);
    }
}

#[test]
fn an_offer_too_large_alone_is_set_aside() {
    let offers = vec![offer(0, 1), offer(1, 5000), offer(2, 1)];
    let split = split_offers(offers.clone(), ContentType::Protobuf, 4096);
    assert_eq!(split.oversized, [offers[1].clone()]);
    assert_eq!(
        offers_of(&split.events),
        [offers[0].clone(), offers[2].clone()]
    );
    assert_eq!(split.events.len(), 1);
}

#[test]
fn no_offers_no_events() {
    let split = split_offers(Vec::new(), ContentType::Json, 100);
    assert!(split.events.is_empty() && split.oversized.is_empty());
}

proptest! {
    #[test]
    fn events_stay_under_the_limit_keep_order_and_are_full(
        offers in proptest::collection::vec(common::offer(), 0..12),
        limit in 64usize..2048,
        json in any::<bool>(),
    ) {
        let content_type = if json { ContentType::Json } else { ContentType::Protobuf };
        let split = split_offers(offers.clone(), content_type, limit);
        for event in &split.events {
            prop_assert!(encode(event, content_type).len() <= limit);
            prop_assert!(!offers_of(std::slice::from_ref(event)).is_empty());
        }
        for offer in &split.oversized {
            prop_assert!(encode(&offers_event(vec![offer.clone()]), content_type).len() > limit);
        }
        // Every offer is in an event or set aside, in order.
        let mut kept = offers.clone();
        kept.retain(|o| !split.oversized.contains(o));
        prop_assert_eq!(offers_of(&split.events), kept);
        // An event was closed only because the next offer did not fit in it.
        for pair in split.events.windows(2) {
            let mut grown = offers_of(&pair[..1]);
            grown.push(offers_of(&pair[1..])[0].clone());
            prop_assert!(encode(&offers_event(grown), content_type).len() > limit);
        }
    }
}
