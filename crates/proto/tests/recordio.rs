//! RecordIO framing: round trips over arbitrary chunkings, and every malformed stream.

use mesos_proto::recordio::{
    MESOS_GO_MAX_RECORD_BYTES, RecordDecoder, RecordIoError, encode_record,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn stream(records: &[Vec<u8>]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| encode_record(r).expect("not empty"))
        .collect()
}

#[test]
fn records_are_length_newline_bytes() {
    assert_eq!(
        encode_record(b"{\"type\":\"HEARTBEAT\"}").expect("framed"),
        b"20\n{\"type\":\"HEARTBEAT\"}"
    );
    assert_eq!(encode_record(b""), Err(RecordIoError::EmptyRecord));
    let mut decoder = RecordDecoder::new(MESOS_GO_MAX_RECORD_BYTES);
    assert_eq!(
        decoder.decode(b"3\nabc1\nd").expect("valid"),
        [b"abc".to_vec(), b"d".to_vec()]
    );
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn a_stream_cut_inside_a_record_is_truncated() {
    let mut decoder = RecordDecoder::new(100);
    assert_eq!(
        decoder.decode(b"5\nab").expect("so far valid"),
        Vec::<Vec<u8>>::new()
    );
    assert_eq!(decoder.finish(), Err(RecordIoError::Truncated(4)));
    let mut decoder = RecordDecoder::new(100);
    decoder.push(b"12");
    assert_eq!(decoder.next_record(), Ok(None));
    assert_eq!(decoder.finish(), Err(RecordIoError::Truncated(2)));
}

#[test]
fn malformed_headers_are_refused() {
    for (bytes, expected) in [
        (&b"\nabc"[..], RecordIoError::InvalidHeader(String::new())),
        (b"x\n", RecordIoError::InvalidHeader("x".into())),
        (b" 3\nabc", RecordIoError::InvalidHeader(" 3".into())),
        (b"3 \nabc", RecordIoError::InvalidHeader("3 ".into())),
        (b"-3\nabc", RecordIoError::InvalidHeader("-3".into())),
        // A stray byte before the header, which stalls pymesos forever.
        (b"\r\n3\nabc", RecordIoError::InvalidHeader("\r".into())),
        (b"0\n", RecordIoError::EmptyRecord),
        (
            b"123456789012345678901",
            RecordIoError::InvalidHeader("123456789012345678901".into()),
        ),
    ] {
        let mut decoder = RecordDecoder::new(100);
        assert_eq!(
            decoder.decode(bytes),
            Err(expected.clone()),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        // An error is final.
        assert_eq!(decoder.next_record(), Err(expected));
    }
}

#[test]
fn oversized_records_are_refused_from_their_header() {
    let mut decoder = RecordDecoder::new(10);
    assert_eq!(
        decoder.decode(b"11\n"),
        Err(RecordIoError::TooLarge {
            length: 11,
            max: 10
        })
    );
    // Even before the header's newline arrives.
    let mut decoder = RecordDecoder::new(10);
    assert_eq!(
        decoder.decode(b"123"),
        Err(RecordIoError::TooLarge {
            length: 123,
            max: 10
        })
    );
    let mut decoder = RecordDecoder::new(10);
    assert_eq!(
        decoder.decode(b"10\n0123456789").expect("at the limit"),
        [b"0123456789".to_vec()]
    );
    let mut decoder = RecordDecoder::new(usize::MAX);
    assert_eq!(
        decoder.decode(b"99999999999999999999\n"),
        Err(RecordIoError::InvalidHeader("99999999999999999999".into()))
    );
}

proptest! {
    #[test]
    fn round_trip_over_any_chunking(
        records in vec(vec(any::<u8>(), 1..300), 0..12),
        cuts in vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let bytes = stream(&records);
        let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cut_points.sort_unstable();
        let mut decoder = RecordDecoder::new(300);
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in cut_points.into_iter().chain([bytes.len()]) {
            decoded.extend(decoder.decode(&bytes[start..end]).map_err(|e| TestCaseError::fail(e.to_string()))?);
            start = end;
        }
        prop_assert_eq!(decoded, records);
        prop_assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn byte_at_a_time_round_trip(records in vec(vec(any::<u8>(), 1..40), 0..6)) {
        let bytes = stream(&records);
        let mut decoder = RecordDecoder::new(40);
        let mut decoded = Vec::new();
        for byte in bytes {
            decoded.extend(decoder.decode(&[byte]).map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        let mut decoder = RecordDecoder::new(16);
        let _ = decoder.decode(&bytes);
        let _ = decoder.finish();
    }
}
