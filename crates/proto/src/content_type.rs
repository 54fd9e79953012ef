//! The two media types of Mesos' HTTP APIs, read from `Content-Type` and `Accept`.

use std::fmt;
use std::str::FromStr;

/// How a body is encoded: Mesos' JSON or binary protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `application/json`, by Mesos' JSON rules (see [`crate::json`]).
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

/// A `Content-Type` that is neither JSON nor protobuf (Mesos answers `415`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expecting 'Content-Type' of application/json or application/x-protobuf, not '{0}'")]
pub struct UnsupportedMediaType(pub String);

impl ContentType {
    /// The media type exactly as Mesos writes it (no parameters: mesos-go wants
    /// `application/x-protobuf` exactly).
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::Protobuf => "application/x-protobuf",
        }
    }

    /// Reads a `Content-Type` header value. More lenient than Mesos, which compares
    /// the whole string: parameters (`; charset=utf-8`) are ignored and the media type
    /// is compared case-insensitively.
    pub fn from_header(value: &str) -> Result<ContentType, UnsupportedMediaType> {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        [ContentType::Json, ContentType::Protobuf]
            .into_iter()
            .find(|candidate| media_type.eq_ignore_ascii_case(candidate.as_str()))
            .ok_or_else(|| UnsupportedMediaType(value.to_owned()))
    }

    /// The response type for an `Accept` header, as Mesos chooses it for SUBSCRIBE
    /// and the operator API: JSON if acceptable, else protobuf, else `None` (Mesos
    /// answers `406`). No header accepts everything, so JSON.
    pub fn negotiate(accept: Option<&str>) -> Option<ContentType> {
        [ContentType::Json, ContentType::Protobuf]
            .into_iter()
            .find(|candidate| accepts(accept, candidate.as_str()))
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentType {
    type Err = UnsupportedMediaType;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        ContentType::from_header(value)
    }
}

/// libprocess' `Request::acceptsMediaType`: the first of `type/subtype`, `type/*` and
/// `*/*` that the header names decides, by its `q` (absent or malformed: accepted;
/// otherwise accepted when above 0).
fn accepts(accept: Option<&str>, media_type: &str) -> bool {
    let Some(header) = accept else {
        return true;
    };
    let header: String = header
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n'))
        .collect();
    let main_type = media_type.split('/').next().unwrap_or_default();
    let candidates = [
        media_type.to_owned(),
        format!("{main_type}/*"),
        "*/*".to_owned(),
    ];
    for candidate in &candidates {
        let range = header.split(',').find(|range| {
            let name = range.split(';').find(|token| !token.is_empty());
            name.is_some_and(|name| name.eq_ignore_ascii_case(candidate))
        });
        if let Some(range) = range {
            return quality_accepts(range);
        }
    }
    false
}

fn quality_accepts(range: &str) -> bool {
    let q_values: Vec<&str> = range
        .split(';')
        .filter_map(|param| {
            let parts: Vec<&str> = param.split('=').filter(|part| !part.is_empty()).collect();
            match parts.as_slice() {
                ["q", value] => Some(*value),
                _ => None,
            }
        })
        .collect();
    match q_values.as_slice() {
        [q] => q.parse::<f64>().is_ok_and(|q| q > 0.0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_ignores_parameters_and_case() {
        for header in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert_eq!(
                ContentType::from_header(header),
                Ok(ContentType::Json),
                "{header}"
            );
        }
        assert_eq!("application/x-protobuf".parse(), Ok(ContentType::Protobuf));
        assert_eq!(
            ContentType::from_header("text/plain"),
            Err(UnsupportedMediaType("text/plain".to_owned()))
        );
        assert!(ContentType::from_header("application/jsonx").is_err());
        assert!(ContentType::from_header("").is_err());
    }

    #[test]
    fn negotiation_prefers_json_and_honours_q_zero() {
        let cases = [
            (None, Some(ContentType::Json)),
            (Some("application/json"), Some(ContentType::Json)),
            (Some("application/x-protobuf"), Some(ContentType::Protobuf)),
            (
                Some("application/x-protobuf, application/json"),
                Some(ContentType::Json),
            ),
            (Some("*/*"), Some(ContentType::Json)),
            (Some("application/*"), Some(ContentType::Json)),
            (
                Some("application/json;q=0, */*"),
                Some(ContentType::Protobuf),
            ),
            (
                Some("application/json;q=0.0,application/x-protobuf;q=0.5"),
                Some(ContentType::Protobuf),
            ),
            (Some("application/json; q=0.3"), Some(ContentType::Json)),
            (Some("text/html"), None),
            (Some("*/*;q=0"), None),
            (Some(""), None),
        ];
        for (accept, expected) in cases {
            assert_eq!(ContentType::negotiate(accept), expected, "{accept:?}");
        }
    }
}
