//! `--format folded`: folded stacks by self time, the input of `inferno-flamegraph` and
//! `flamegraph.pl`.
//!
//! One line per distinct stack, `root;child;grandchild <self-µs>`, sorted by stack: the
//! frames are the span names from the trace's root down, and the count is the time the span
//! spent outside its children (concurrent children are not subtracted twice), in whole
//! microseconds, summed over every span with that stack. Stacks whose self time rounds to
//! 0 µs are left out (they add no width). A stack stops at [`MAX_STACK_DEPTH`] frames:
//! deeper spans add their self time to their ancestor there. In names, `;` (the frame
//! separator) becomes `:` and control characters are escaped, so a line always parses.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::spans::{Forest, MAX_STACK_DEPTH, Span};

/// Self time in microseconds per stack, stacks in sorted order.
pub fn stacks(spans: &[Span], forest: &Forest) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    // The current span's stack, and where each of its frames ends in it: a span's stack is
    // its parent's plus one frame, so a deep trace never copies its whole stack per span.
    let mut stack = String::new();
    let mut ends: Vec<usize> = Vec::new();
    for &root in &forest.roots {
        for (i, depth) in forest.walk(root) {
            // A span deeper than the cap adds its time to its ancestor at the cap.
            if depth < MAX_STACK_DEPTH {
                ends.truncate(depth);
                stack.truncate(ends.last().copied().unwrap_or(0));
                if depth > 0 {
                    stack.push(';');
                }
                crate::steps::step(1);
                push_frame(&mut stack, &spans[i].name);
                ends.push(stack.len());
            }
            let self_us = u64::try_from(forest.self_ns(spans, i)).unwrap_or(0) / 1000;
            if self_us > 0 {
                match out.get_mut(stack.as_str()) {
                    Some(total) => *total += self_us,
                    None => {
                        crate::steps::step(ends.len() as u64);
                        out.insert(stack.clone(), self_us);
                    }
                }
            }
        }
    }
    out
}

/// Appends a span name made safe as one frame.
fn push_frame(out: &mut String, name: &str) {
    for c in name.chars() {
        match c {
            ';' => out.push(':'),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
}

/// Writes `stacks` as folded lines.
///
/// # Errors
///
/// Returns the writer's error.
pub fn write<W: Write + ?Sized>(stacks: &BTreeMap<String, u64>, out: &mut W) -> io::Result<()> {
    for (stack, us) in stacks {
        writeln!(out, "{stack} {us}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    // regression: issue #16
    #[test]
    fn issue_16_a_very_deep_trace_folds_into_stacks_at_most_the_cap_deep() {
        let set = crate::spans::chain(1_000);
        let forest = Forest::new(&set.spans);
        let stacks = stacks(&set.spans, &forest);
        let deepest = stacks.keys().map(|k| k.split(';').count()).max();
        assert_eq!(deepest, Some(MAX_STACK_DEPTH));
        assert_eq!(stacks.values().sum::<u64>(), 1_000_000, "no time lost");
    }

    // regression: issue #15
    #[test]
    fn issue_15_a_deep_trace_copies_each_frame_about_once() {
        let set = crate::spans::chain(20_000);
        let forest = Forest::new(&set.spans);
        let (stacks, copied) = crate::steps::counted(|| stacks(&set.spans, &forest));
        let frames_out: usize = stacks.keys().map(|k| k.split(';').count()).sum();
        assert_eq!(stacks.values().sum::<u64>(), 20_000_000, "no time lost");
        assert!(
            copied <= (20_000 + frames_out) as u64,
            "{copied} frames copied for 20000 spans and {frames_out} frames of output"
        );
    }

    #[test]
    fn separators_and_control_characters_cannot_break_a_line() {
        let mut out = String::new();
        push_frame(&mut out, "a;b\nc d");
        assert_eq!(out, "a:b\\nc d");
    }
}
