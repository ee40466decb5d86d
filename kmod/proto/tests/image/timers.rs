//! The `Timers` message: round trip, lengths, and what a destination
//! refuses.

use super::*;

#[test]
fn timers_round_trip_and_lengths() {
    let s = timer_state();
    let m = timers_msg(&s);
    assert_eq!(m.len(), TIMERS_HEAD_LEN + 5 * PosixTimer::SIZE);
    assert_eq!(decode_timers(&m).and_then(|v| v.state()), Ok(s));
    assert!(matches!(decode(&m), Ok(MigrateMsg::Timers(v)) if v.state() == Ok(s)));
    check_lengths(&m, |b| decode_timers(b).map(|_| ()));
    // None at all.
    let none = TimerState::default();
    assert_eq!(decode_timers(&timers_msg(&none)).and_then(|v| v.state()), Ok(none));
    assert_eq!(none.holes(), 0);
    assert_eq!(s.holes(), 1);
}

#[test]
fn timers_sort_by_id() {
    let mut s = timer_state();
    let want = s;
    s.timers[..s.count].reverse();
    assert_eq!(s.check(), Err(ImageError::BadTimer));
    s.sort();
    assert_eq!(s, want);
}

/// Each bad field, in the encoder and (patched into a valid message) in
/// the decoder.
#[test]
fn timers_refuse_bad_entries() {
    let bad: Vec<Box<dyn Fn(&mut PosixTimer)>> = vec![
        Box::new(|t| t.id = 1 << 31),
        Box::new(|t| t.clock = 8),   // CLOCK_REALTIME_ALARM
        Box::new(|t| t.clock = -6),  // another process's clock, by pid
        Box::new(|t| t.notify = 2),  // SIGEV_THREAD: user space only
        Box::new(|t| t.signo = 0),
        Box::new(|t| t.signo = 65),
        Box::new(|t| t.flags = 2),
        Box::new(|t| (t.flags, t.clock) = (TIMER_OWN_CPU_CLOCK, 3)),
        Box::new(|t| (t.flags, t.clock) = (TIMER_OWN_CPU_CLOCK, 8)),
    ];
    let good = timer_state();
    let m = timers_msg(&good);
    for (i, f) in bad.iter().enumerate() {
        let mut s = good;
        f(&mut s.timers[1]);
        let mut out = vec![0u8; timers_len(s.count)];
        assert_eq!(encode_timers(&s, &mut out), Err(ImageError::BadTimer), "case {i}");
        // The same timer written into the valid message's bytes.
        let mut raw = m.clone();
        let at = TIMERS_HEAD_LEN + PosixTimer::SIZE;
        let t = s.timers[1];
        raw[at..at + 4].copy_from_slice(&t.id.to_le_bytes());
        raw[at + 4..at + 8].copy_from_slice(&t.clock.to_le_bytes());
        raw[at + 8..at + 12].copy_from_slice(&t.notify.to_le_bytes());
        raw[at + 12..at + 16].copy_from_slice(&t.signo.to_le_bytes());
        raw[at + 40..at + 44].copy_from_slice(&t.flags.to_le_bytes());
        assert_eq!(decode_timers(&raw).err().map(Err::<(), _>).unwrap_or(Ok(())), Err(ImageError::BadTimer), "case {i}");
    }
    // Padding must be zero; ids must increase.
    let mut raw = m.clone();
    raw[TIMERS_HEAD_LEN + 44] = 1;
    assert_eq!(decode_timers(&raw).err().map(Err::<(), _>).unwrap_or(Ok(())), Err(ImageError::BadTimer));
    let mut raw = m.clone();
    raw[TIMERS_HEAD_LEN + PosixTimer::SIZE..TIMERS_HEAD_LEN + PosixTimer::SIZE + 4].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_timers(&raw).err().map(Err::<(), _>).unwrap_or(Ok(())), Err(ImageError::BadTimer));
}

#[test]
fn timers_bounds() {
    let mut s = TimerState::default();
    for id in 0..MAX_TIMERS as u32 {
        s.push(PosixTimer { id, signo: 14, ..PosixTimer::default() }).unwrap();
    }
    assert_eq!(s.push(PosixTimer::default()), Err(ImageError::TooLarge));
    let m = timers_msg(&s);
    let mut raw = m.clone();
    let at = TIMERS_HEAD_LEN - 4;
    raw[at..at + 4].copy_from_slice(&(MAX_TIMERS as u32 + 1).to_le_bytes());
    assert_eq!(decode_timers(&raw).err().map(Err::<(), _>).unwrap_or(Ok(())), Err(ImageError::TooLarge));
    // Holes: up to the bound, not past it.
    let mut s = TimerState::default();
    s.push(PosixTimer { id: 3, signo: 14, ..PosixTimer::default() }).unwrap();
    s.push(PosixTimer { id: 4 + MAX_TIMER_HOLES, signo: 14, ..PosixTimer::default() }).unwrap();
    assert_eq!(s.holes(), MAX_TIMER_HOLES);
    assert_eq!(s.check(), Ok(()));
    s.timers[1].id += 1;
    assert_eq!(s.check(), Err(ImageError::TooLarge));
    let mut out = vec![0u8; timers_len(2)];
    assert_eq!(encode_timers(&s, &mut out), Err(ImageError::TooLarge));
}
