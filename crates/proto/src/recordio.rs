//! RecordIO, the framing of Mesos' event streams: each record is its length in
//! decimal, a newline, and that many bytes, with nothing between records.
//!
//! A zero-length record is never valid here: as a chunk it would end the chunked
//! body, and pymesos cannot parse an empty event.

/// The largest record mesos-go reads (4 MiB); events must stay below it.
pub const MESOS_GO_MAX_RECORD_BYTES: usize = 4 << 20;

/// The most digits a record length can have (`u64::MAX` has 20).
const MAX_LENGTH_DIGITS: usize = 20;

/// What is wrong with a record or a stream of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// A record of no bytes.
    #[error("a RecordIO record cannot be empty")]
    EmptyRecord,
    /// The bytes before a newline are not a decimal length.
    #[error("invalid RecordIO header {0:?}: expecting a decimal length and a newline")]
    InvalidHeader(String),
    /// A record longer than the decoder's maximum.
    #[error("a RecordIO record of {length} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The length its header declares.
        length: u64,
        /// The decoder's maximum.
        max: usize,
    },
    /// The stream ended inside a record or its header.
    #[error("the RecordIO stream ended inside a record ({0} bytes left over)")]
    Truncated(usize),
}

/// Frames one record: `<len>\n<payload>`. An empty payload is refused.
pub fn encode_record(payload: &[u8]) -> Result<Vec<u8>, RecordIoError> {
    if payload.is_empty() {
        return Err(RecordIoError::EmptyRecord);
    }
    let header = format!("{}\n", payload.len());
    let mut record = Vec::with_capacity(header.len() + payload.len());
    record.extend_from_slice(header.as_bytes());
    record.extend_from_slice(payload);
    Ok(record)
}

/// An incremental RecordIO decoder: push bytes as they arrive, however they are cut,
/// and take whole records out.
#[derive(Debug, Clone)]
pub struct RecordDecoder {
    buffer: Vec<u8>,
    max_record_bytes: usize,
}

impl RecordDecoder {
    /// A decoder that refuses records longer than `max_record_bytes`.
    pub fn new(max_record_bytes: usize) -> Self {
        RecordDecoder {
            buffer: Vec::new(),
            max_record_bytes,
        }
    }

    /// Appends bytes from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Appends `bytes` and takes every record now complete.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        self.push(bytes);
        let mut records = Vec::new();
        while let Some(record) = self.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    /// The next complete record, `None` until more bytes arrive. An error is final:
    /// the stream cannot be resynchronised.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') else {
            self.check_partial_header()?;
            return Ok(None);
        };
        let length = self.record_length(newline)?;
        let start = newline + 1;
        let end = start.saturating_add(length);
        if self.buffer.len() < end {
            return Ok(None);
        }
        let record = self
            .buffer
            .get(start..end)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.buffer.drain(..end);
        Ok(Some(record))
    }

    /// Checks that the stream ended between records.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match self.buffer.len() {
            0 => Ok(()),
            left => Err(RecordIoError::Truncated(left)),
        }
    }

    fn record_length(&self, newline: usize) -> Result<usize, RecordIoError> {
        let header = self.buffer.get(..newline).unwrap_or_default();
        if header.is_empty()
            || header.len() > MAX_LENGTH_DIGITS
            || !header.iter().all(u8::is_ascii_digit)
        {
            return Err(self.invalid_header(newline));
        }
        let length: u64 = std::str::from_utf8(header)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| self.invalid_header(newline))?;
        match usize::try_from(length) {
            Ok(0) => Err(RecordIoError::EmptyRecord),
            Ok(n) if n <= self.max_record_bytes => Ok(n),
            _ => Err(RecordIoError::TooLarge {
                length,
                max: self.max_record_bytes,
            }),
        }
    }

    /// Fails early on a header that cannot become valid, rather than buffering
    /// without end.
    fn check_partial_header(&self) -> Result<(), RecordIoError> {
        if self.buffer.len() > MAX_LENGTH_DIGITS || !self.buffer.iter().all(u8::is_ascii_digit) {
            return Err(self.invalid_header(self.buffer.len()));
        }
        let length: u64 = std::str::from_utf8(&self.buffer)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0);
        if usize::try_from(length).map_or(true, |n| n > self.max_record_bytes) {
            return Err(RecordIoError::TooLarge {
                length,
                max: self.max_record_bytes,
            });
        }
        Ok(())
    }

    fn invalid_header(&self, end: usize) -> RecordIoError {
        let shown = self
            .buffer
            .get(..end.min(MAX_LENGTH_DIGITS + 1))
            .unwrap_or_default();
        RecordIoError::InvalidHeader(String::from_utf8_lossy(shown).into_owned())
    }
}
