//! US-equity session calendar for DAY orders: the regular close, 16:00 America/New_York,
//! with US daylight-saving rules (second Sunday of March to first Sunday of November, since
//! 2007). Weekends are skipped; exchange holidays are not modelled (a DAY order accepted on a
//! holiday eve expires at that day's close anyway, and an order accepted on a holiday expires
//! at the next weekday's close).

const DAY: i64 = 86_400;
const NANOS: i64 = 1_000_000_000;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn year_of(days: i64) -> i64 {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400;
    if mp >= 10 {
        y + 1
    } else {
        y
    }
}

/// 0 = Sunday … 6 = Saturday.
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

fn nth_sunday(y: i64, m: i64, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    first + (7 - weekday(first)) % 7 + 7 * (n - 1)
}

/// Offset of New York from UTC, in seconds, at UTC second `t`.
fn ny_offset(t: i64) -> i64 {
    let y = year_of(t.div_euclid(DAY));
    let start = nth_sunday(y, 3, 2) * DAY + 7 * 3600; // 02:00 EST
    let end = nth_sunday(y, 11, 1) * DAY + 6 * 3600; // 02:00 EDT
    if (start..end).contains(&t) {
        -4 * 3600
    } else {
        -5 * 3600
    }
}

/// The first session close (weekday, `close_minutes` after local midnight in New York)
/// strictly after `ts` (UTC UNIX nanoseconds), in UTC UNIX nanoseconds.
#[must_use]
pub fn next_session_close(ts: u64, close_minutes: u32) -> u64 {
    let t = i64::try_from(ts / 1_000_000_000).unwrap_or(i64::MAX / 2);
    let local_day = (t + ny_offset(t)).div_euclid(DAY);
    for k in 0..10 {
        let d = local_day + k;
        if matches!(weekday(d), 0 | 6) {
            continue;
        }
        let close_local = d * DAY + i64::from(close_minutes) * 60;
        let close_utc = close_local - ny_offset(close_local + 5 * 3600);
        let close_ns = u64::try_from(close_utc.saturating_mul(NANOS)).unwrap_or(u64::MAX);
        if close_ns > ts {
            return close_ns;
        }
    }
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, m: i64, d: i64, hh: i64, mm: i64) -> u64 {
        ((days_from_civil(y, m, d) * DAY + hh * 3600 + mm * 60) * NANOS) as u64
    }

    #[test]
    fn closes_at_four_pm_new_york_across_dst() {
        // Winter: 16:00 EST = 21:00 UTC.
        assert_eq!(
            next_session_close(utc(2024, 1, 10, 15, 0), 960),
            utc(2024, 1, 10, 21, 0)
        );
        // Summer: 16:00 EDT = 20:00 UTC.
        assert_eq!(
            next_session_close(utc(2024, 7, 10, 15, 0), 960),
            utc(2024, 7, 10, 20, 0)
        );
        // After the close: next weekday. Friday evening -> Monday.
        assert_eq!(
            next_session_close(utc(2024, 7, 12, 20, 30), 960),
            utc(2024, 7, 15, 20, 0)
        );
        // DST starts 2024-03-10 (Sunday): Monday the 11th closes at 20:00 UTC.
        assert_eq!(
            next_session_close(utc(2024, 3, 9, 12, 0), 960),
            utc(2024, 3, 11, 20, 0)
        );
        // DST ends 2024-11-03: Monday the 4th closes at 21:00 UTC.
        assert_eq!(
            next_session_close(utc(2024, 11, 2, 12, 0), 960),
            utc(2024, 11, 4, 21, 0)
        );
    }
}
