//! Speed and time left, as the dropzone shows them per file and overall: a rate smoothed over
//! samples at least a second apart (a progress event per few kilobytes would make it jitter), in
//! whole bytes per second, so the page's WASM formats no floating point. The words are the
//! reader's language's (`drop` catalogue).

use crate::i18n::{td_string, Locale};

/// Bytes per second of one transfer, from its progress over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meter {
    last_ms: i64,
    last_sent: u64,
    rate: u64,
}

/// Samples closer than this are kept for the next one.
const SAMPLE_MS: i64 = 1000;

impl Meter {
    pub fn new(now_ms: i64, sent: u64) -> Meter {
        Meter { last_ms: now_ms, last_sent: sent, rate: 0 }
    }

    /// Feeds the bytes sent so far; true when the rate changed.
    pub fn sample(&mut self, now_ms: i64, sent: u64) -> bool {
        if sent < self.last_sent {
            // Sent again from the start (a retry): measure anew.
            *self = Meter::new(now_ms, sent);
            return true;
        }
        let elapsed = now_ms - self.last_ms;
        if elapsed < SAMPLE_MS {
            return false;
        }
        let now_rate = (sent - self.last_sent) * 1000 / elapsed as u64;
        let before = self.rate;
        // The first sample as it is, then 30 % of each new one.
        self.rate = if self.rate == 0 { now_rate } else { (self.rate * 7 + now_rate * 3) / 10 };
        self.last_ms = now_ms;
        self.last_sent = sent;
        self.rate != before
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }
}

/// "45 s", "3 min", "1 h 5 min"; `None` while there is no rate to judge by.
pub fn time_left(remaining: u64, rate: u64, locale: Locale) -> Option<String> {
    if rate == 0 {
        return None;
    }
    let secs = remaining.div_ceil(rate);
    Some(match secs {
        0..=59 => td_string!(locale, drop.seconds, s = secs),
        60..=3599 => td_string!(locale, drop.minutes, m = secs.div_ceil(60)),
        _ => td_string!(locale, drop.hours_minutes, h = secs / 3600, m = (secs % 3600) / 60),
    })
}

/// "1.5 MiB/s, 12 s left"; empty while there is no rate yet.
pub fn speed_words(rate: u64, remaining: u64, locale: Locale) -> String {
    match time_left(remaining, rate, locale) {
        Some(left) => td_string!(locale, drop.speed, speed = crate::model::human_size_in(rate, locale), left = left),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_follows_the_bytes_over_whole_seconds_and_smooths() {
        let mut m = Meter::new(0, 0);
        assert!(!m.sample(500, 400_000), "half a second is too soon to judge");
        assert!(m.sample(1000, 1_000_000));
        assert_eq!(m.rate(), 1_000_000);
        assert!(m.sample(2000, 1_500_000));
        assert_eq!(m.rate(), (1_000_000 * 7 + 500_000 * 3) / 10, "a slower second lowers it gently");
        assert!(m.sample(2500, 0), "sent again from the start");
        assert_eq!(m.rate(), 0);
    }

    #[test]
    fn time_left_reads_as_people_say_it() {
        let english = Locale::en;
        assert_eq!(time_left(1000, 0, english), None);
        assert_eq!(time_left(45_000, 1000, english).as_deref(), Some("45 s"));
        assert_eq!(time_left(1, 1000, english).as_deref(), Some("1 s"));
        assert_eq!(time_left(150_000, 1000, english).as_deref(), Some("3 min"));
        assert_eq!(time_left(3_900_000, 1000, english).as_deref(), Some("1 h 5 min"));
        assert_eq!(speed_words(1536, 15_360, english), "1.5 KiB/s, 10 s left");
        assert_eq!(speed_words(0, 10, english), "");
    }

    #[test]
    fn french_says_what_is_left_with_non_breaking_spaces_before_units() {
        let french = Locale::fr;
        assert_eq!(time_left(45_000, 1000, french).as_deref(), Some("45\u{a0}s"));
        assert_eq!(time_left(3_900_000, 1000, french).as_deref(), Some("1\u{a0}h 5\u{a0}min"));
        assert!(speed_words(1536, 150_000, french).ends_with("/s, il reste 2\u{a0}min"));
        assert_eq!(speed_words(0, 10, french), "");
    }
}
