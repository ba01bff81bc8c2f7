//! Dates and times in words: "27 Nov 2026", "27 Nov 14:05", "5 minutes ago". The caller
//! reads the clock and the calendar (the browser's, in local time); this only words them.

use crate::english::MONTHS;
use crate::{Count, Text, t, tf, tn};

/// A day: `day` of the month, `month` from 0 (January), `year`.
pub fn date(day: u32, month: u32, year: i32) -> String {
    tf(
        Text::DayMonthYear,
        &[
            ("day", &day.to_string()),
            ("month", &month_name(month)),
            ("year", &year.to_string()),
        ],
    )
}

/// A clock time, `hours` from 0 to 23: `21:41` (`21.41` in Indonesian, as its style guides
/// and phones write it), or `9:41 PM` on a `twelve_hour` clock (the browser's locale counts
/// hours to 12).
pub fn clock_time(hours: u32, minutes: u32, twelve_hour: bool) -> String {
    let minute = format!("{minutes:02}");
    if !twelve_hour {
        return tf(
            Text::ClockTime24,
            &[("hour", &format!("{hours:02}")), ("minute", &minute)],
        );
    }
    let half = if hours < 12 {
        Text::BeforeNoon
    } else {
        Text::AfterNoon
    };
    let hour = match hours % 12 {
        0 => 12,
        hour => hour,
    };
    tf(
        Text::ClockTime12,
        &[
            ("hour", &hour.to_string()),
            ("minute", &minute),
            ("half", &t(half)),
        ],
    )
}

/// A day of this year with its clock time (as [`clock_time`] words it).
pub fn date_and_time(day: u32, month: u32, time: &str) -> String {
    tf(
        Text::DayMonthTime,
        &[
            ("day", &day.to_string()),
            ("month", &month_name(month)),
            ("time", time),
        ],
    )
}

/// A day of this year: `27 Nov`.
pub fn day_and_month(day: u32, month: u32) -> String {
    tf(
        Text::DayMonth,
        &[("day", &day.to_string()), ("month", &month_name(month))],
    )
}

/// How long ago something was, `elapsed_ms` milliseconds back: "just now" within a minute,
/// then whole minutes, hours, "yesterday" and whole days.
pub fn ago(elapsed_ms: u64) -> String {
    const MINUTE_MS: u64 = 60_000;
    const HOUR_MS: u64 = 60 * MINUTE_MS;
    const DAY_MS: u64 = 24 * HOUR_MS;
    if elapsed_ms < MINUTE_MS {
        t(Text::JustNow)
    } else if elapsed_ms < HOUR_MS {
        tn(Count::MinutesAgo, elapsed_ms / MINUTE_MS, &[])
    } else if elapsed_ms < DAY_MS {
        tn(Count::HoursAgo, elapsed_ms / HOUR_MS, &[])
    } else {
        match elapsed_ms / DAY_MS {
            1 => t(Text::Yesterday),
            days => tn(Count::DaysAgo, days, &[]),
        }
    }
}

fn month_name(month: u32) -> String {
    MONTHS
        .get(month as usize)
        .map(|text| t(*text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalogue, Language, install};

    #[test]
    fn english_and_indonesian_dates_and_ages() {
        install(Catalogue::english());
        assert_eq!(date(27, 10, 2026), "27 Nov 2026");
        assert_eq!(date_and_time(3, 4, "09:05"), "3 May 09:05");
        assert_eq!(ago(5_000), "just now");
        assert_eq!(ago(60_000), "1 minute ago");
        assert_eq!(ago(3 * 3_600_000 + 5), "3 hours ago");
        assert_eq!(ago(30 * 3_600_000), "yesterday");
        assert_eq!(ago(3 * 86_400_000), "3 days ago");

        let source = include_str!("../../../public/locales/id.txt");
        install(Catalogue::parse(Language::Indonesian, source).expect("parses"));
        assert_eq!(date_and_time(3, 4, "09:05"), "3 Mei 09:05");
        assert_eq!(ago(2 * 60_000), "2 menit yang lalu");
        assert_eq!(ago(30 * 3_600_000), "kemarin");
        install(Catalogue::english());
    }

    #[test]
    fn clock_times_on_a_24_hour_and_a_12_hour_clock() {
        install(Catalogue::english());
        assert_eq!(clock_time(9, 5, false), "09:05");
        assert_eq!(clock_time(21, 41, false), "21:41");
        assert_eq!(clock_time(0, 5, true), "12:05 AM");
        assert_eq!(clock_time(9, 5, true), "9:05 AM");
        assert_eq!(clock_time(12, 0, true), "12:00 PM");
        assert_eq!(clock_time(21, 41, true), "9:41 PM");

        let source = include_str!("../../../public/locales/id.txt");
        install(Catalogue::parse(Language::Indonesian, source).expect("parses"));
        assert_eq!(clock_time(9, 5, false), "09.05");
        assert_eq!(clock_time(21, 41, false), "21.41");
        install(Catalogue::english());
    }
}
