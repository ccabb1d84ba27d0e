//! The stdio framing on arbitrary bytes: no panic; every line it returns is at most the limit
//! plus its newline and ends at a newline or at the end of the input; the lines, with those over
//! the limit, cover the input in order.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = 64;
    let lines = airlock_mcp::fuzzing::frame(data, max);
    let mut rebuilt = Vec::new();
    let mut too_long = 0usize;
    for l in &lines {
        match l {
            Some(l) => {
                assert!(l.len() <= max + 1, "a line over the limit came through");
                let newlines = l.iter().filter(|b| **b == b'\n').count();
                assert!(newlines <= 1 && (newlines == 0 || l.ends_with(b"\n")));
                rebuilt.extend_from_slice(l);
            }
            None => too_long += 1,
        }
    }
    if too_long == 0 {
        assert_eq!(rebuilt, data, "the lines are the input, in order");
    }
});
