//! The time now, and local clock times and dates for messages, in the language in use
//! (`merpati_words::dates` words them; the browser's calendar says what they are).

use merpati_words::dates;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn date_at(ms: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

fn same_day(a: &js_sys::Date, b: &js_sys::Date) -> bool {
    a.get_date() == b.get_date()
        && a.get_month() == b.get_month()
        && a.get_full_year() == b.get_full_year()
}

/// Whether times are told on a 12-hour clock: the app speaks English and the browser's locale
/// counts hours to 12 (`en-US` does, `en-GB` does not). Indonesian counts to 24.
fn twelve_hour_clock() -> bool {
    merpati_words::language() == merpati_words::Language::English
        && LOCALE_COUNTS_TO_12.with(|counts| *counts)
}

thread_local! {
    /// Whether the browser's locale counts hours to 12: read from `Intl` once, as it stays
    /// for the worker's life, not with every view (each [`ListDays::now`]).
    static LOCALE_COUNTS_TO_12: bool = {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"hour".into(), &"numeric".into());
        let resolved =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &options).resolved_options();
        js_sys::Reflect::get(&resolved, &"hourCycle".into())
            .ok()
            .and_then(|cycle| cycle.as_string())
            .is_some_and(|cycle| cycle == "h12" || cycle == "h11")
    };
}

/// A message time as the person's clock shows it: `21:41` (`21.41`, `9:41 PM`) today, `D Mon 21:41`
/// before.
pub fn local_time(ms: u64) -> String {
    ListDays::now().message_time(ms).0
}

/// A day of the person's calendar, as a number that orders days: two times fall on the same
/// day when their keys are equal.
fn day_key(date: &js_sys::Date) -> u32 {
    // Years fit in 16 bits for any time a message can carry; months and days in 5 bits.
    (date.get_full_year() << 9) | (date.get_month() << 5) | date.get_date()
}

/// Today and yesterday by the person's calendar, read once for every row of a list.
#[derive(Debug)]
pub struct ListDays {
    today: js_sys::Date,
    yesterday: js_sys::Date,
    twelve_hour: bool,
}

impl ListDays {
    /// The days as they are now.
    pub fn now() -> ListDays {
        let today = js_sys::Date::new_0();
        // The calendar's day before, whatever the clock did overnight (0 is the month
        // before's last day).
        let yesterday = js_sys::Date::new_0();
        yesterday.set_date(today.get_date() - 1);
        ListDays {
            today,
            yesterday,
            twelve_hour: twelve_hour_clock(),
        }
    }

    fn clock_time(&self, date: &js_sys::Date) -> String {
        dates::clock_time(date.get_hours(), date.get_minutes(), self.twelve_hour)
    }

    /// When a chat last saw anything, as its row in the chat list says it: `HH:MM` today,
    /// "Yesterday", `D Mon` earlier this year, `D Mon YYYY` before.
    pub fn time_of(&self, ms: u64) -> String {
        let date = date_at(ms);
        if same_day(&date, &self.today) {
            self.clock_time(&date)
        } else {
            self.earlier_day(&date, ms)
        }
    }

    /// A message's time as [`local_time`] words it, and its day's key (equal for two times on
    /// the same day): one reading of the calendar for each row of a chat, which is read again
    /// with every view.
    pub fn message_time(&self, ms: u64) -> (String, u32) {
        let date = date_at(ms);
        let time = self.clock_time(&date);
        let key = day_key(&date);
        if same_day(&date, &self.today) {
            return (time, key);
        }
        (
            dates::date_and_time(date.get_date(), date.get_month(), &time),
            key,
        )
    }

    /// The day of a message, as the separator above the first message of each day says it:
    /// "Today", "Yesterday", `D Mon` earlier this year, `D Mon YYYY` before.
    pub fn day_of(&self, ms: u64) -> String {
        let date = date_at(ms);
        if same_day(&date, &self.today) {
            merpati_words::t(merpati_words::Text::TodayAsDay)
        } else {
            self.earlier_day(&date, ms)
        }
    }

    fn earlier_day(&self, date: &js_sys::Date, ms: u64) -> String {
        if same_day(date, &self.yesterday) {
            merpati_words::t(merpati_words::Text::YesterdayAsDay)
        } else if date.get_full_year() == self.today.get_full_year() {
            dates::day_and_month(date.get_date(), date.get_month())
        } else {
            local_date(ms)
        }
    }
}

/// A day as the person's calendar shows it: `27 Nov 2026`.
pub fn local_date(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    dates::date(
        date.get_date(),
        date.get_month(),
        date.get_full_year() as i32,
    )
}
