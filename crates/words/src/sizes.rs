//! File sizes in words: "512 B", "4.2 KB", "10 MB" (with the language's decimal point).
//! Kilobytes and megabytes are of 1,024, as file managers and other messengers count them.

use crate::{Text, t, tf};

/// A file's size, `bytes` long: one decimal below ten units, none from ten up.
pub fn file_size(bytes: u64) -> String {
    const KILO: u64 = 1024;
    const MEGA: u64 = KILO * KILO;
    let (text, unit) = match bytes {
        0..KILO => return tf(Text::SizeBytes, &[("size", &bytes.to_string())]),
        KILO..MEGA => (Text::SizeKilobytes, KILO),
        _ => (Text::SizeMegabytes, MEGA),
    };
    // In tenths of the unit, rounded to the nearest.
    let tenths = (u128::from(bytes) * 10 + u128::from(unit) / 2) / u128::from(unit);
    let size = if tenths < 100 && tenths % 10 != 0 {
        format!("{}{}{}", tenths / 10, t(Text::DecimalPoint), tenths % 10)
    } else {
        ((tenths + 5) / 10).to_string()
    };
    tf(text, &[("size", &size)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_expect() {
        assert_eq!(file_size(0), "0 B");
        assert_eq!(file_size(1023), "1023 B");
        assert_eq!(file_size(1024), "1 KB");
        assert_eq!(file_size(4300), "4.2 KB");
        assert_eq!(file_size(512 * 1024), "512 KB");
        assert_eq!(file_size(10 * 1024 * 1024), "10 MB");
        assert_eq!(file_size(2_621_440), "2.5 MB");
        assert_eq!(file_size(100 * 1024 * 1024), "100 MB");
    }
}
