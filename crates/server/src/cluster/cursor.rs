//! Where a process stands in one chat it follows: the last sequence number it delivered,
//! and what to do with the next message offered — sans I/O, so the rules are tested alone.

use merpati_protocol::Seq;

/// What to do with a message offered for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Delivered already (a wake-up that came after the gap read that held it, or twice).
    Stale,
    /// The next one: deliver it.
    Next,
    /// Messages are missing before it: read them after this one, then deliver it.
    After(Seq),
}

/// The last sequence number delivered in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    delivered: Seq,
}

impl Cursor {
    /// A cursor that has delivered everything up to `seq`.
    pub(crate) fn at(seq: Seq) -> Cursor {
        Cursor { delivered: seq }
    }

    /// What to do with message `seq`.
    pub(crate) fn offer(&self, seq: Seq) -> Offered {
        if seq <= self.delivered {
            Offered::Stale
        } else if seq == self.delivered.next() {
            Offered::Next
        } else {
            Offered::After(self.delivered)
        }
    }

    /// Notes message `seq` delivered (never moving back).
    pub(crate) fn delivered(&mut self, seq: Seq) {
        self.delivered = self.delivered.max(seq);
    }

    /// Where to read from if the chat's head is past what was delivered.
    pub(crate) fn behind(&self, head: Seq) -> Option<Seq> {
        (head > self.delivered).then_some(self.delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_message_is_delivered_an_old_one_is_not_and_a_gap_is_read_first() {
        let mut cursor = Cursor::at(Seq(3));
        assert_eq!(cursor.offer(Seq(2)), Offered::Stale);
        assert_eq!(cursor.offer(Seq(3)), Offered::Stale);
        assert_eq!(cursor.offer(Seq(4)), Offered::Next);
        assert_eq!(cursor.offer(Seq(7)), Offered::After(Seq(3)));
        cursor.delivered(Seq(6));
        assert_eq!(cursor.offer(Seq(7)), Offered::Next);
        cursor.delivered(Seq(5));
        assert_eq!(
            cursor.offer(Seq(7)),
            Offered::Next,
            "a cursor never moves back"
        );
    }

    #[test]
    fn a_head_past_the_cursor_is_read_from_the_cursor() {
        let cursor = Cursor::at(Seq(10));
        assert_eq!(cursor.behind(Seq(10)), None);
        assert_eq!(cursor.behind(Seq(9)), None);
        assert_eq!(cursor.behind(Seq(12)), Some(Seq(10)));
    }
}
