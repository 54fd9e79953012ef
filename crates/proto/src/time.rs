//! Mesos' time values from the caller's clock (nothing here reads the time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::v1::{DurationInfo, TimeInfo};

/// Seconds since the Unix epoch, as `TaskStatus.timestamp` and the other `double`
/// timestamps carry them (negative before the epoch).
pub fn epoch_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Whole nanoseconds of `seconds`, rounded, saturating at `i64`'s range (NaN is 0).
#[allow(clippy::cast_possible_truncation)]
fn nanoseconds(seconds: f64) -> i64 {
    (seconds * 1e9).round() as i64
}

impl TimeInfo {
    /// The instant `seconds` after the Unix epoch.
    pub fn from_epoch_seconds(seconds: f64) -> Self {
        TimeInfo {
            nanoseconds: nanoseconds(seconds),
        }
    }

    /// The instant `time`.
    pub fn from_system_time(time: SystemTime) -> Self {
        let nanoseconds = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
        };
        TimeInfo { nanoseconds }
    }

    /// Seconds since the Unix epoch.
    #[allow(clippy::cast_precision_loss)]
    pub fn epoch_seconds(&self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }
}

impl DurationInfo {
    /// A duration of `seconds`.
    pub fn from_seconds(seconds: f64) -> Self {
        DurationInfo {
            nanoseconds: nanoseconds(seconds),
        }
    }

    /// The duration `duration` (saturating at `i64::MAX` nanoseconds).
    pub fn from_duration(duration: Duration) -> Self {
        DurationInfo {
            nanoseconds: i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_info_from_epoch_seconds() {
        assert_eq!(
            TimeInfo::from_epoch_seconds(1_600_000_000.5).nanoseconds,
            1_600_000_000_500_000_000
        );
        assert_eq!(
            TimeInfo::from_epoch_seconds(1.5),
            TimeInfo {
                nanoseconds: 1_500_000_000
            }
        );
        assert_eq!(
            TimeInfo::from_epoch_seconds(-2.0),
            TimeInfo {
                nanoseconds: -2_000_000_000
            }
        );
        assert_eq!(
            TimeInfo::from_epoch_seconds(f64::NAN),
            TimeInfo { nanoseconds: 0 }
        );
        assert_eq!(
            TimeInfo::from_epoch_seconds(f64::INFINITY),
            TimeInfo {
                nanoseconds: i64::MAX
            }
        );
        assert_eq!(TimeInfo::from_epoch_seconds(1.5).epoch_seconds(), 1.5);
    }

    #[test]
    fn time_info_from_system_time() {
        let time = UNIX_EPOCH + Duration::new(1_600_000_000, 123);
        assert_eq!(
            TimeInfo::from_system_time(time).nanoseconds,
            1_600_000_000_000_000_123
        );
        let before = UNIX_EPOCH - Duration::from_secs(3);
        assert_eq!(
            TimeInfo::from_system_time(before).nanoseconds,
            -3_000_000_000
        );
        assert_eq!(epoch_seconds(UNIX_EPOCH + Duration::from_millis(2500)), 2.5);
        assert_eq!(epoch_seconds(before), -3.0);
    }

    #[test]
    fn duration_info() {
        assert_eq!(DurationInfo::from_seconds(0.25).nanoseconds, 250_000_000);
        assert_eq!(
            DurationInfo::from_duration(Duration::from_millis(7)).nanoseconds,
            7_000_000
        );
        assert_eq!(
            DurationInfo::from_duration(Duration::MAX).nanoseconds,
            i64::MAX
        );
    }
}
