//! The time now, and local clock times and dates for messages, in the language in use
//! (`merpati_words::dates` words them; the browser's calendar says what they are).

use merpati_words::dates;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A message time as the person's clock shows it: `HH:MM` today, `D Mon HH:MM` before.
pub fn local_time(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let today = js_sys::Date::new_0();
    let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    let same_day = date.get_date() == today.get_date()
        && date.get_month() == today.get_month()
        && date.get_full_year() == today.get_full_year();
    if same_day {
        return time;
    }
    dates::date_and_time(date.get_date(), date.get_month(), &time)
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
