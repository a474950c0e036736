//! Dates as the pages show and read them, in UTC: the same text on the server and in the
//! browser, so hydration agrees. Times are Unix milliseconds throughout.

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 to the civil `(year, month, day)` (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

/// The civil `(year, month, day)` to days since 1970-01-01, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-21`
pub fn utc_day(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-21 14:03 UTC`
pub fn utc_minutes(ms: i64) -> String {
    let mins = ms.rem_euclid(DAY_MS) / 60_000;
    format!("{} {:02}:{:02} UTC", utc_day(ms), mins / 60, mins % 60)
}

/// `2026-11-21T14:03:00Z`: a `<time datetime>` the page shows in the reader's own time zone.
pub fn iso_minutes(ms: i64) -> String {
    let mins = ms.rem_euclid(DAY_MS) / 60_000;
    format!("{}T{:02}:{:02}:00Z", utc_day(ms), mins / 60, mins % 60)
}

/// `yyyy-mm-dd` (as an `<input type=date>` sends it) to 00:00 UTC that day.
pub fn parse_day(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_in_utc() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minutes(1_795_190_400_000 + 75 * 60_000), "2026-11-20 17:15 UTC");
        assert_eq!(utc_minutes(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_day(951_782_400_000 + DAY_MS - 1), "2000-02-29");
    }

    #[test]
    fn dates_from_the_filter_form_are_utc_midnights() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_day("2000-13-01"), None);
        assert_eq!(parse_day("soon"), None);
    }

    #[test]
    fn days_go_there_and_back() {
        for ms in [0, 951_782_400_000, 1_795_190_400_000, -86_400_000 * 400] {
            assert_eq!(parse_day(&utc_day(ms)), Some(ms - ms.rem_euclid(DAY_MS)));
        }
    }
}
