//! Time zones and the risk session: when the risk day rolls over and when trading is open.
//!
//! No tz database: a [`TimeZone`] is a standard UTC offset plus an optional daylight-saving
//! rule, which covers the exchanges we trade (US rules since 2007, EU rules since 1996) and
//! any fixed offset. Historic rule changes (US before 2007) are not modelled.
//!
//! Both questions the risk engine asks on every check — "which risk day is it?" and "is the
//! market open?" — are answered from a cached window of UTC nanoseconds, so the hot path is
//! two integer comparisons; the civil-calendar arithmetic runs once per day boundary.

use std::fmt;

use crate::error::{CoreError, CoreResult};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const NANOS: i64 = 1_000_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[must_use]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day number (days since 1970-01-01).
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// 0 = Monday … 6 = Sunday (ISO order).
#[must_use]
pub fn weekday(days: i64) -> u8 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7) as u8
}

/// The `n`-th (1-based) Sunday of a month.
fn nth_sunday(y: i64, m: i64, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    first + (6 - i64::from(weekday(first))).rem_euclid(7) + 7 * (n - 1)
}

/// The last Sunday of a month.
fn last_sunday(y: i64, m: i64) -> i64 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    let last = next - 1;
    last - (i64::from(weekday(last)) + 1).rem_euclid(7)
}

/// A daylight-saving rule: the clocks move forward one hour between two instants a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstRule {
    /// No daylight saving.
    None,
    /// United States and Canada since 2007: second Sunday of March 02:00 local standard time
    /// to first Sunday of November 02:00 local daylight time.
    Us,
    /// European Union and UK since 1996: last Sunday of March 01:00 UTC to last Sunday of
    /// October 01:00 UTC.
    Eu,
}

/// A time zone: a standard offset from UTC and a daylight-saving rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone {
    name: &'static str,
    /// Standard (winter) offset east of UTC, in seconds.
    std_offset: i32,
    dst: DstRule,
}

/// The zones known by name.
const NAMED: &[(&str, i32, DstRule)] = &[
    ("UTC", 0, DstRule::None),
    ("Etc/UTC", 0, DstRule::None),
    ("America/New_York", -5 * 3600, DstRule::Us),
    ("America/Chicago", -6 * 3600, DstRule::Us),
    ("America/Denver", -7 * 3600, DstRule::Us),
    ("America/Los_Angeles", -8 * 3600, DstRule::Us),
    ("America/Toronto", -5 * 3600, DstRule::Us),
    ("Europe/London", 0, DstRule::Eu),
    ("Europe/Dublin", 0, DstRule::Eu),
    ("Europe/Lisbon", 0, DstRule::Eu),
    ("Europe/Paris", 3600, DstRule::Eu),
    ("Europe/Berlin", 3600, DstRule::Eu),
    ("Europe/Amsterdam", 3600, DstRule::Eu),
    ("Europe/Zurich", 3600, DstRule::Eu),
    ("Europe/Madrid", 3600, DstRule::Eu),
    ("Europe/Stockholm", 3600, DstRule::Eu),
    ("Asia/Tokyo", 9 * 3600, DstRule::None),
    ("Asia/Hong_Kong", 8 * 3600, DstRule::None),
    ("Asia/Singapore", 8 * 3600, DstRule::None),
    ("Asia/Kolkata", 19_800, DstRule::None),
];

impl TimeZone {
    /// Coordinated Universal Time.
    pub const UTC: Self = Self {
        name: "UTC",
        std_offset: 0,
        dst: DstRule::None,
    };

    /// US Eastern time, the exchange time of NYSE and Nasdaq.
    pub const NEW_YORK: Self = Self {
        name: "America/New_York",
        std_offset: -5 * 3600,
        dst: DstRule::Us,
    };

    /// A zone by IANA name (see `docs/risk.md` for the list) or a fixed offset written
    /// `+HH:MM` / `-HH:MM` (also `UTC+HH:MM`).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown name or a malformed offset.
    pub fn named(name: &str) -> CoreResult<Self> {
        if let Some(&(n, off, dst)) = NAMED.iter().find(|(n, _, _)| *n == name) {
            return Ok(Self {
                name: n,
                std_offset: off,
                dst,
            });
        }
        let text = name.strip_prefix("UTC").unwrap_or(name);
        parse_offset(text).map(Self::fixed).ok_or_else(|| {
            CoreError::invalid(
                "time_zone",
                format!("unknown time zone {name:?}: use an IANA name from docs/risk.md or +HH:MM"),
            )
        })?
    }

    /// A fixed offset east of UTC in seconds (no daylight saving), within ±18 h.
    ///
    /// # Errors
    /// `InvalidInput` beyond ±18 hours.
    pub fn fixed(offset_seconds: i32) -> CoreResult<Self> {
        if offset_seconds.abs() > 18 * 3600 {
            return Err(CoreError::invalid("time_zone", "offset beyond ±18 hours"));
        }
        Ok(Self {
            name: if offset_seconds == 0 { "UTC" } else { "fixed" },
            std_offset: offset_seconds,
            dst: DstRule::None,
        })
    }

    /// The IANA name, `"UTC"`, or `"fixed"` for a fixed offset (see `Display`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The daylight-saving rule.
    #[must_use]
    pub fn dst_rule(&self) -> DstRule {
        self.dst
    }

    /// Offset east of UTC, in seconds, at the UTC instant `utc` (seconds since the epoch).
    #[must_use]
    pub fn offset_at(&self, utc: i64) -> i64 {
        let std = i64::from(self.std_offset);
        let (start, end) = match self.dst {
            DstRule::None => return std,
            DstRule::Us => {
                let (y, _, _) = civil_from_days((utc + std).div_euclid(DAY));
                (
                    nth_sunday(y, 3, 2) * DAY + 2 * HOUR - std,
                    nth_sunday(y, 11, 1) * DAY + 2 * HOUR - (std + HOUR),
                )
            }
            DstRule::Eu => {
                let (y, _, _) = civil_from_days(utc.div_euclid(DAY));
                (
                    last_sunday(y, 3) * DAY + HOUR,
                    last_sunday(y, 10) * DAY + HOUR,
                )
            }
        };
        if (start..end).contains(&utc) {
            std + HOUR
        } else {
            std
        }
    }

    /// Local wall-clock seconds since the epoch at the UTC instant `utc`.
    #[must_use]
    pub fn to_local(&self, utc: i64) -> i64 {
        utc + self.offset_at(utc)
    }

    /// The UTC instant of a local wall-clock time. A time skipped by the spring-forward
    /// change maps one hour later; a repeated autumn time maps to its first occurrence.
    #[must_use]
    pub fn to_utc(&self, local: i64) -> i64 {
        let std = i64::from(self.std_offset);
        // Try the daylight reading first (first occurrence of a repeated hour), then standard.
        let dst_guess = local - std - HOUR;
        if self.dst != DstRule::None && self.offset_at(dst_guess) == std + HOUR {
            return dst_guess;
        }
        local - std
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == "fixed" {
            let s = self.std_offset;
            let sign = if s < 0 { '-' } else { '+' };
            let a = s.abs();
            write!(f, "UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
        } else {
            f.write_str(self.name)
        }
    }
}

/// `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH` → seconds.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Parses `HH:MM` into minutes after local midnight (`24:00` allowed as an end).
///
/// # Errors
/// `InvalidInput` naming `field`.
pub fn parse_hhmm(field: &'static str, text: &str) -> CoreResult<u16> {
    let bad = || CoreError::invalid(field, format!("{text:?} is not HH:MM"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `YYYY-MM-DD` into a day number (days since 1970-01-01).
///
/// # Errors
/// `InvalidInput` naming `field`.
pub fn parse_date(field: &'static str, text: &str) -> CoreResult<i64> {
    let bad = || CoreError::invalid(field, format!("{text:?} is not YYYY-MM-DD"));
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    let d: i64 = d.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days)
}

/// Formats a day number as `YYYY-MM-DD`.
#[must_use]
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Regular trading hours in the exchange's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradingHours {
    /// Minutes after local midnight when trading opens (inclusive).
    pub open: u16,
    /// Minutes after local midnight when trading closes (exclusive); `> open`.
    pub close: u16,
    /// Bit `i` set = trading on ISO weekday `i` (0 = Monday … 6 = Sunday).
    pub weekdays: u8,
    /// Local dates (day numbers, sorted) on which the market is closed.
    pub holidays: Vec<i64>,
    /// Half days: `(local date, close in minutes after local midnight)`, sorted by date;
    /// on those dates trading closes then instead of at `close`.
    pub early_closes: Vec<(i64, u16)>,
}

impl TradingHours {
    /// Monday to Friday.
    pub const WEEKDAYS: u8 = 0b001_1111;

    /// 09:30–16:00 Monday–Friday: the regular US-equity session.
    #[must_use]
    pub fn us_equities() -> Self {
        Self {
            open: 9 * 60 + 30,
            close: 16 * 60,
            weekdays: Self::WEEKDAYS,
            holidays: Vec::new(),
            early_closes: Vec::new(),
        }
    }

    /// Validates the window.
    ///
    /// # Errors
    /// `InvalidInput` unless `open < close <= 24:00` and every early close lies after the
    /// open and before the regular close.
    pub fn validate(&self) -> CoreResult<()> {
        if self.open >= self.close || self.close > 24 * 60 {
            return Err(CoreError::invalid(
                "trading_hours",
                "open must be before close, within one local day",
            ));
        }
        if let Some((day, _)) = self
            .early_closes
            .iter()
            .find(|(_, c)| *c <= self.open || *c >= self.close)
        {
            return Err(CoreError::invalid(
                "early_closes",
                format!(
                    "{}: an early close must lie after the open and before the regular close",
                    format_date(*day)
                ),
            ));
        }
        Ok(())
    }

    fn trades_on(&self, local_day: i64) -> bool {
        self.weekdays & (1 << weekday(local_day)) != 0
            && self.holidays.binary_search(&local_day).is_err()
    }

    /// The close on `local_day`: its early close on a half day, else the regular one.
    fn close_on(&self, local_day: i64) -> u16 {
        self.early_closes
            .binary_search_by_key(&local_day, |(d, _)| *d)
            .map_or(self.close, |i| self.early_closes[i].1)
    }
}

/// When the risk day starts and when the market is open, in one time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub time_zone: TimeZone,
    /// Local minutes after midnight at which the risk day (daily loss, orders per day) resets.
    pub reset_at: u16,
    /// `None`: trading allowed around the clock.
    pub trading_hours: Option<TradingHours>,
}

impl Default for SessionConfig {
    /// New York time, reset at local midnight, regular US-equity hours.
    fn default() -> Self {
        Self {
            time_zone: TimeZone::NEW_YORK,
            reset_at: 0,
            trading_hours: Some(TradingHours::us_equities()),
        }
    }
}

/// Cached answers for [`SessionConfig`] over UTC nanoseconds.
#[derive(Debug, Clone)]
pub struct SessionClock {
    config: SessionConfig,
    /// Risk day `[start, end)` in UTC ns, and its local date (day number).
    day_start: i64,
    day_end: i64,
    day: i64,
    /// Local calendar day `[start, end)` in UTC ns and that day's open window.
    cal_start: i64,
    cal_end: i64,
    open_at: i64,
    close_at: i64,
}

impl SessionClock {
    /// A clock with nothing cached yet.
    ///
    /// # Errors
    /// `InvalidInput` for invalid trading hours or a reset time past 24:00.
    pub fn new(config: SessionConfig) -> CoreResult<Self> {
        if let Some(h) = &config.trading_hours {
            h.validate()?;
        }
        if config.reset_at >= 24 * 60 {
            return Err(CoreError::invalid("reset_at", "must be before 24:00"));
        }
        let mut config = config;
        if let Some(h) = config.trading_hours.as_mut() {
            h.holidays.sort_unstable();
            h.holidays.dedup();
            h.early_closes.sort_unstable();
            h.early_closes.dedup_by_key(|(d, _)| *d);
        }
        Ok(Self {
            config,
            day_start: 0,
            day_end: 0,
            day: i64::MIN,
            cal_start: 0,
            cal_end: 0,
            open_at: 0,
            close_at: 0,
        })
    }

    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The risk day (local date of its start, as a day number) containing `ts` (UTC ns).
    /// Returns `(day, changed)`: `changed` is true when `ts` left the cached day.
    pub fn risk_day(&mut self, ts: u64) -> (i64, bool) {
        let t = ts_i64(ts);
        if t >= self.day_start && t < self.day_end {
            return (self.day, false);
        }
        let tz = self.config.time_zone;
        let reset = i64::from(self.config.reset_at) * 60;
        let secs = t.div_euclid(NANOS);
        let local = tz.to_local(secs);
        let day = (local - reset).div_euclid(DAY);
        let start = tz.to_utc(day * DAY + reset);
        let end = tz.to_utc((day + 1) * DAY + reset);
        self.day_start = start.saturating_mul(NANOS);
        self.day_end = end.saturating_mul(NANOS);
        let changed = day != self.day;
        self.day = day;
        (day, changed)
    }

    /// UTC ns at which the risk day containing `ts` starts (no caching).
    #[must_use]
    pub fn day_start_of(&self, ts: u64) -> i64 {
        let tz = self.config.time_zone;
        let reset = i64::from(self.config.reset_at) * 60;
        let local = tz.to_local(ts_i64(ts).div_euclid(NANOS));
        let day = (local - reset).div_euclid(DAY);
        tz.to_utc(day * DAY + reset).saturating_mul(NANOS)
    }

    /// UTC ns at which the current risk day ends (after a `risk_day` call).
    #[must_use]
    pub fn day_end(&self) -> i64 {
        self.day_end
    }

    /// Whether trading is open at `ts` (UTC ns).
    /// Whether the local day of `ts` is a trading day (always, without trading hours):
    /// the check for orders sent on daily or longer bars, whose close stamp lies after
    /// the day's hours (a daily bar stamped at the next UTC midnight is still its day's
    /// bar in New York).
    pub fn is_trading_day(&mut self, ts: u64) -> bool {
        let Some(hours) = &self.config.trading_hours else {
            return true;
        };
        // The instant before the stamp: a bar closing exactly at local midnight belongs
        // to the day that ends there.
        let t = ts_i64(ts).saturating_sub(1);
        let local = self.config.time_zone.to_local(t.div_euclid(NANOS));
        hours.trades_on(local.div_euclid(DAY))
    }

    pub fn is_open(&mut self, ts: u64) -> bool {
        let Some(hours) = &self.config.trading_hours else {
            return true;
        };
        let t = ts_i64(ts);
        if t < self.cal_start || t >= self.cal_end {
            let tz = self.config.time_zone;
            let local = tz.to_local(t.div_euclid(NANOS));
            let day = local.div_euclid(DAY);
            self.cal_start = tz.to_utc(day * DAY).saturating_mul(NANOS);
            self.cal_end = tz.to_utc((day + 1) * DAY).saturating_mul(NANOS);
            if hours.trades_on(day) {
                self.open_at = tz
                    .to_utc(day * DAY + i64::from(hours.open) * 60)
                    .saturating_mul(NANOS);
                self.close_at = tz
                    .to_utc(day * DAY + i64::from(hours.close_on(day)) * 60)
                    .saturating_mul(NANOS);
            } else {
                self.open_at = 0;
                self.close_at = 0;
            }
        }
        t >= self.open_at && t < self.close_at
    }
}

fn ts_i64(ts: u64) -> i64 {
    i64::try_from(ts).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// UTC -> local -> UTC is the identity, except in the repeated autumn hour, whose
        /// second occurrence maps back to the first.
        #[test]
        fn local_round_trip(t in 631_152_000_i64..4_102_444_800, zone in 0_usize..4) {
            let tz = [TimeZone::NEW_YORK, TimeZone::UTC,
                TimeZone::named("Europe/Berlin").unwrap(), TimeZone::named("+05:30").unwrap()][zone];
            let back = tz.to_utc(tz.to_local(t));
            let repeated = tz.offset_at(t) < tz.offset_at(t - HOUR);
            if repeated {
                prop_assert_eq!(back, t - HOUR);
            } else {
                prop_assert_eq!(back, t);
            }
        }
    }

    fn utc(y: i64, m: i64, d: i64, hh: i64, mm: i64) -> u64 {
        u64::try_from((days_from_civil(y, m, d) * DAY + hh * HOUR + mm * 60) * NANOS).unwrap()
    }

    #[test]
    fn civil_round_trip_and_weekday() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(weekday(0), 3); // Thursday
        assert_eq!(weekday(days_from_civil(2024, 7, 15)), 0); // Monday
        assert_eq!(format_date(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert!(parse_date("d", "2023-02-29").is_err());
        assert_eq!(
            parse_date("d", "2024-12-25").unwrap(),
            days_from_civil(2024, 12, 25)
        );
    }

    #[test]
    fn new_york_offsets_across_dst() {
        let ny = TimeZone::named("America/New_York").unwrap();
        let s = |t: u64| i64::try_from(t).unwrap() / NANOS;
        // 2024: DST from 2024-03-10 07:00 UTC to 2024-11-03 06:00 UTC.
        assert_eq!(ny.offset_at(s(utc(2024, 3, 10, 6, 59))), -5 * HOUR);
        assert_eq!(ny.offset_at(s(utc(2024, 3, 10, 7, 0))), -4 * HOUR);
        assert_eq!(ny.offset_at(s(utc(2024, 11, 3, 5, 59))), -4 * HOUR);
        assert_eq!(ny.offset_at(s(utc(2024, 11, 3, 6, 0))), -5 * HOUR);
        // Local -> UTC: 09:30 in winter and summer.
        let d = days_from_civil(2024, 1, 10);
        assert_eq!(
            ny.to_utc(d * DAY + 9 * HOUR + 1800),
            d * DAY + 14 * HOUR + 1800
        );
        let d = days_from_civil(2024, 7, 10);
        assert_eq!(
            ny.to_utc(d * DAY + 9 * HOUR + 1800),
            d * DAY + 13 * HOUR + 1800
        );
        // Repeated hour on 2024-11-03: 01:30 local maps to its first (EDT) occurrence.
        let d = days_from_civil(2024, 11, 3);
        assert_eq!(ny.to_utc(d * DAY + HOUR + 1800), d * DAY + 5 * HOUR + 1800);
    }

    #[test]
    fn london_and_fixed_offsets() {
        let lon = TimeZone::named("Europe/London").unwrap();
        let s = |t: u64| i64::try_from(t).unwrap() / NANOS;
        // 2024: BST from 2024-03-31 01:00 UTC to 2024-10-27 01:00 UTC.
        assert_eq!(lon.offset_at(s(utc(2024, 3, 31, 0, 59))), 0);
        assert_eq!(lon.offset_at(s(utc(2024, 3, 31, 1, 0))), HOUR);
        assert_eq!(lon.offset_at(s(utc(2024, 10, 27, 1, 0))), 0);
        let ist = TimeZone::named("+05:30").unwrap();
        assert_eq!(ist.offset_at(0), 19_800);
        assert_eq!(ist.to_string(), "UTC+05:30");
        assert_eq!(TimeZone::named("UTC-03").unwrap().offset_at(0), -3 * HOUR);
        assert!(TimeZone::named("Mars/Olympus").is_err());
        assert!(TimeZone::named("+19:00").is_err());
    }

    #[test]
    fn trading_hours_in_new_york() {
        let mut c = SessionClock::new(SessionConfig::default()).unwrap();
        // Wednesday 2024-01-10 (EST): open 14:30-21:00 UTC.
        assert!(!c.is_open(utc(2024, 1, 10, 14, 29)));
        assert!(c.is_open(utc(2024, 1, 10, 14, 30)));
        assert!(c.is_open(utc(2024, 1, 10, 20, 59)));
        assert!(!c.is_open(utc(2024, 1, 10, 21, 0)));
        // Summer (EDT): 13:30-20:00 UTC.
        assert!(c.is_open(utc(2024, 7, 10, 13, 30)));
        assert!(!c.is_open(utc(2024, 7, 10, 20, 0)));
        // Saturday.
        assert!(!c.is_open(utc(2024, 7, 13, 15, 0)));
        // Holiday.
        let mut cfg = SessionConfig::default();
        if let Some(h) = cfg.trading_hours.as_mut() {
            h.holidays.push(parse_date("d", "2024-07-04").unwrap());
        }
        let mut c = SessionClock::new(cfg).unwrap();
        assert!(!c.is_open(utc(2024, 7, 4, 15, 0)));
        assert!(c.is_open(utc(2024, 7, 5, 15, 0)));
    }

    #[test]
    fn a_half_day_closes_early() {
        let mut cfg = SessionConfig::default();
        if let Some(h) = cfg.trading_hours.as_mut() {
            // The day after Thanksgiving 2024 (EST): 09:30-13:00 = 14:30-18:00 UTC.
            h.early_closes
                .push((parse_date("d", "2024-11-29").unwrap(), 13 * 60));
        }
        let mut c = SessionClock::new(cfg.clone()).unwrap();
        assert!(c.is_open(utc(2024, 11, 29, 17, 59)));
        assert!(!c.is_open(utc(2024, 11, 29, 18, 0)));
        assert!(!c.is_open(utc(2024, 11, 29, 20, 0)));
        // The next trading day has its regular close again.
        assert!(c.is_open(utc(2024, 12, 2, 20, 59)));
        assert!(!c.is_open(utc(2024, 12, 2, 21, 0)));
        for bad in [9 * 60 + 30, 16 * 60, 17 * 60] {
            let mut cfg = cfg.clone();
            if let Some(h) = cfg.trading_hours.as_mut() {
                h.early_closes = vec![(parse_date("d", "2024-11-29").unwrap(), bad)];
            }
            let err = SessionClock::new(cfg).unwrap_err().to_string();
            assert!(
                err.contains("2024-11-29: an early close must lie after the open"),
                "{err}"
            );
        }
    }

    #[test]
    fn risk_day_rolls_at_the_local_boundary() {
        let cfg = SessionConfig {
            time_zone: TimeZone::NEW_YORK,
            reset_at: 17 * 60,
            trading_hours: None,
        };
        let mut c = SessionClock::new(cfg).unwrap();
        // 17:00 EDT = 21:00 UTC.
        let (d1, ch) = c.risk_day(utc(2024, 7, 10, 20, 59));
        assert!(ch);
        assert_eq!(format_date(d1), "2024-07-09");
        let (d2, ch) = c.risk_day(utc(2024, 7, 10, 21, 0));
        assert!(ch);
        assert_eq!(d2, d1 + 1);
        let (d3, ch) = c.risk_day(utc(2024, 7, 11, 3, 0));
        assert!(!ch);
        assert_eq!(d3, d2);
        assert_eq!(c.day_end(), i64::try_from(utc(2024, 7, 11, 21, 0)).unwrap());
        assert!(SessionClock::new(SessionConfig {
            reset_at: 24 * 60,
            ..SessionConfig::default()
        })
        .is_err());
        assert_eq!(parse_hhmm("t", "09:30").unwrap(), 570);
        assert!(parse_hhmm("t", "9:30").is_err());
        assert!(parse_hhmm("t", "24:01").is_err());
    }
}
