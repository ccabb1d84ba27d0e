//! Daily time windows (`HH:MM-HH:MM` on some days of the week) in a policy's time zone, for
//! the `time_window` check: whether an instant is inside, and when the window next opens.
//! Overnight windows (end before start) belong to the day they open. Local time comes from
//! the bundled IANA database, never the machine's zone.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::PolicyError;

/// A daily time window in a time zone's local time, on some days of the week.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    start: Time,
    end: Time,
    days: [bool; 7],
    /// As written, for messages.
    pub text: String,
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Parse `HH:MM-HH:MM` and day names (empty: every day).
    pub fn parse(text: &str, days: &[String], key: &str) -> Result<Window, PolicyError> {
        let bad = |message: String| {
            PolicyError {
            key: key.to_owned(),
            message,
            hint: "write the window as HH:MM-HH:MM in 24-hour time, e.g. \"09:00-17:00\" or \"22:00-06:00\" for overnight".to_owned(),
        }
        };
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| bad(format!("{text:?} is not a window")))?;
        let parse_time = |s: &str| -> Result<Time, PolicyError> {
            let s = s.trim();
            let (h, m) = s
                .split_once(':')
                .ok_or_else(|| bad(format!("{s:?} is not HH:MM")))?;
            let h: i8 = h.parse().map_err(|_| bad(format!("{s:?} is not HH:MM")))?;
            let m: i8 = m.parse().map_err(|_| bad(format!("{s:?} is not HH:MM")))?;
            if h == 24 && m == 0 {
                return Ok(Time::MAX);
            }
            Time::new(h, m, 0, 0).map_err(|_| bad(format!("{s:?} is not a time of day")))
        };
        let start = parse_time(a)?;
        let end = parse_time(b)?;
        if start == end {
            return Err(bad(format!("{text:?} is empty: the start equals the end")));
        }
        let mut set = [days.is_empty(); 7];
        for d in days {
            let lower = d.to_ascii_lowercase();
            const FULL: [&str; 7] = [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ];
            let i = DAY_NAMES
                .iter()
                .position(|n| lower == *n)
                .or_else(|| FULL.iter().position(|n| lower == *n))
                .ok_or_else(|| PolicyError {
                    key: key.to_owned(),
                    message: format!("{d:?} is not a day of the week"),
                    hint: "list each day: mon, tue, wed, thu, fri, sat, sun (ranges like mon-fri are not read)".to_owned(),
                })?;
            set[i] = true;
        }
        Ok(Window {
            start,
            end,
            days: set,
            text: text.to_owned(),
        })
    }

    fn overnight(&self) -> bool {
        self.end < self.start
    }

    /// Whether `at` falls inside the window, in `tz`.
    pub fn contains(&self, at: Timestamp, tz: &TimeZone) -> bool {
        let local = tz.to_datetime(at);
        let t = local.time();
        let day = weekday_index(local.weekday());
        let prev = (day + 6) % 7;
        if self.overnight() {
            (self.days[day] && t >= self.start) || (self.days[prev] && t < self.end)
        } else {
            self.days[day] && t >= self.start && t < self.end
        }
    }

    /// The next instant at or after `at` when the window is open (within 8 days).
    pub fn next_open(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        if self.contains(at, tz) {
            return Some(at);
        }
        let local = at.to_zoned_datetime(tz.clone());
        let today = local.date();
        for offset in 0..8i64 {
            let date = today.checked_add(offset.days()).ok()?;
            if !self.days[weekday_index(date.weekday())] {
                continue;
            }
            let opens = date
                .to_datetime(self.start)
                .to_zoned_datetime(tz.clone())
                .ok()?;
            // On a day whose start time falls in a DST gap, the resolved instant can lie
            // outside the window: skip such a day.
            if opens.timestamp() > at && self.contains(opens.timestamp(), tz) {
                return Some(opens.timestamp());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_in_a_time_zone_with_days_and_overnight() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let office = Window::parse(
            "09:00-17:00",
            &[
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            "k",
        )
        .unwrap();
        // 2026-05-04 is a Monday; Berlin is UTC+2 in May.
        assert!(office.contains(ts("2026-05-04T07:30:00Z"), &berlin));
        assert!(!office.contains(ts("2026-05-04T06:59:00Z"), &berlin));
        assert!(!office.contains(ts("2026-05-04T15:00:00Z"), &berlin));
        assert!(
            !office.contains(ts("2026-05-09T10:00:00Z"), &berlin),
            "Saturday"
        );
        // Next opening after Friday evening is Monday 09:00 local.
        assert_eq!(
            office.next_open(ts("2026-05-08T18:00:00Z"), &berlin),
            Some(ts("2026-05-11T07:00:00Z"))
        );
        let night = Window::parse("22:00-06:00", &["fri".into()], "k").unwrap();
        assert!(
            night.contains(ts("2026-05-08T21:00:00Z"), &berlin),
            "Fri 23:00"
        );
        assert!(
            night.contains(ts("2026-05-09T03:00:00Z"), &berlin),
            "Sat 05:00, opened Friday"
        );
        assert!(
            !night.contains(ts("2026-05-10T03:00:00Z"), &berlin),
            "Sun 05:00, Saturday is not listed"
        );
        for bad in ["9-17", "09:00", "25:00-26:00", "09:00-09:00"] {
            assert!(Window::parse(bad, &[], "k").is_err(), "{bad}");
        }
        assert!(Window::parse("09:00-17:00", &["funday".into()], "k").is_err());
    }
}
