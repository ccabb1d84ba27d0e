//! One class's automaton: a lazy DFA run straight (forward to where a match ends, backward to
//! where it starts), with a PikeVM for the rare search where the lazy DFA gives up.
//!
//! The meta regex does the same with more around it: it picks a strategy per pattern set
//! (a reverse-inner-literal search for a lone SSN pattern), looks at its prefilter and its
//! engines on every call. A class is searched thousands of times per megabyte in short
//! regions, so that cost per call was most of the search: 260 ns a search in the number
//! regions, against 52 ns here (the 25 732 number regions of 8 MiB of the diverse text, timed
//! with a probe that was not kept; `cargo run --release -p airlock-scan --example scan-speed`
//! shows the effect on the whole scan).

use regex_automata::hybrid::{dfa, regex};
use regex_automata::nfa::thompson::{self, WhichCaptures, pikevm, pikevm::PikeVM};
use regex_automata::util::{prefilter::Prefilter, syntax};
use regex_automata::{Input, Match, MatchKind};
use regex_syntax::hir::{Capture, Class, Hir, HirKind, Repetition};

pub(crate) struct Automaton {
    dfa: regex::Regex,
    /// For a search the lazy DFA gives up on: its cache cleared three times with fewer than 10
    /// bytes read per state built. The PikeVM is slower but cannot fail, and no input can make
    /// a search take more than time linear in its length.
    nfa: PikeVM,
    /// Per pattern, its open run at the end, which the lazy DFA leaves to a table.
    runs: Vec<Option<Run>>,
    /// The fewest bytes any match holds: a shorter span holds none.
    min_len: usize,
}

/// An automaton's caches, one per thread scanning.
#[derive(Clone)]
pub(crate) struct Cache {
    dfa: regex::Cache,
    nfa: pikevm::Cache,
}

impl Automaton {
    /// The patterns, parsed ([`crate::parse`]), leftmost-first (the first listed wins at a
    /// place). With `prefilter`, a search skips ahead to the patterns'
    /// literal prefixes when it can (a class searched over the whole text); `cache` bounds
    /// each lazy DFA's memory per thread.
    pub(crate) fn new(hirs: &[Hir], prefilter: bool, cache: usize) -> Result<Self, String> {
        // The lazy DFAs match each open run at the end of a pattern its least number of times;
        // the run is then read on with a table (see [`Run`]).
        let (short, runs): (Vec<Hir>, Vec<Option<Run>>) = hirs
            .iter()
            .map(|hir| match Run::split(hir) {
                Some((short, run)) => (short, Some(run)),
                None => (hir.clone(), None),
            })
            .unzip();
        let pre = if prefilter {
            Prefilter::from_hirs_prefix(MatchKind::LeftmostFirst, &short)
        } else {
            None
        };
        let config = dfa::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .specialize_start_states(pre.is_some())
            .prefilter(pre)
            // Anchored searches of one pattern (a retry at a place where another matched).
            .starts_for_each_pattern(true)
            .cache_capacity(cache)
            .minimum_cache_clear_count(Some(3))
            .minimum_bytes_per_state(Some(10));
        let nfa = |reverse: bool| {
            thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .utf8(false)
                        .reverse(reverse)
                        .which_captures(WhichCaptures::None),
                )
                .build_many_from_hir(&short)
                .map_err(|e| e.to_string())
        };
        let forward = dfa::Builder::new()
            .configure(config.clone())
            .build_from_nfa(nfa(false)?)
            .map_err(|e| e.to_string())?;
        // The reverse DFA finds where a match starts: every match, no prefilter.
        let reverse = dfa::Builder::new()
            .configure(
                config
                    .prefilter(None)
                    .specialize_start_states(false)
                    .match_kind(MatchKind::All),
            )
            .build_from_nfa(nfa(true)?)
            .map_err(|e| e.to_string())?;
        let dfa = regex::Builder::new().build_from_dfas(forward, reverse);
        let whole = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::Implicit),
            )
            .build_many_from_hir(hirs)
            .map_err(|e| e.to_string())?;
        let nfa = PikeVM::builder()
            .configure(PikeVM::config().match_kind(MatchKind::LeftmostFirst))
            .build_from_nfa(whole)
            .map_err(|e| e.to_string())?;
        let min_len = hirs
            .iter()
            .map(|h| h.properties().minimum_len().unwrap_or(0))
            .min()
            .unwrap_or(0);
        Ok(Automaton {
            dfa,
            nfa,
            runs,
            min_len,
        })
    }

    pub(crate) fn create_cache(&self) -> Cache {
        Cache {
            dfa: self.dfa.create_cache(),
            nfa: self.nfa.create_cache(),
        }
    }

    /// The fewest bytes any match holds.
    pub(crate) fn min_len(&self) -> usize {
        self.min_len
    }

    pub(crate) fn pattern_len(&self) -> usize {
        self.dfa.pattern_len()
    }

    /// The leftmost-first match in `input`, with where the matching pattern's value starts when its run is a
    /// capture group of its own (`…=\s*([^\s]{4,})`): `(group, start)`. The lazy DFA matched
    /// the run its least number of times, so the run starts that many bytes before the DFA's
    /// end: the pattern's head took the same path it takes before the greedy run (a path
    /// succeeds with `C{n,}` after it exactly when it succeeds with `C{n}`), so this is the
    /// group a backtracker finds.
    pub(crate) fn search(
        &self,
        cache: &mut Cache,
        input: &Input<'_>,
    ) -> Option<(Match, Option<(usize, usize)>)> {
        match self.dfa.try_search(&mut cache.dfa, input) {
            Ok(Some(m)) => match &self.runs[m.pattern().as_usize()] {
                Some(run) => {
                    let end = run.end(input.haystack(), m.end(), input.end());
                    let value = run.group.map(|g| (g, m.end() - run.least));
                    Some((Match::new(m.pattern(), m.start()..end), value))
                }
                None => Some((m, None)),
            },
            Ok(None) => None,
            // The PikeVM runs the patterns as written.
            Err(_) => self
                .nfa
                .find(&mut cache.nfa, input.clone())
                .map(|m| (m, None)),
        }
    }
}

/// Where a match of an automaton's patterns can start: per previous byte (or the text's start)
/// and byte, whether the anchored forward DFA, started there, is still alive after that byte.
/// Read from the DFA itself, so it holds every look-behind the patterns have (`\b`: a digit
/// after a digit starts no match of `\b[0-9]{3}…`). A place it refuses starts no match: a
/// dead state stays dead, and no match is empty.
pub(crate) struct Starts {
    /// The distinct rows, by previous byte; the last is the text's start.
    rows: Vec<[bool; 256]>,
    /// The row of each previous byte.
    row_of: [u8; 256],
}

impl Starts {
    /// The table of `automaton`; `None` when a match may be empty.
    pub(crate) fn new(automaton: &Automaton) -> Option<Starts> {
        if automaton.min_len == 0 {
            return None;
        }
        let dfa = automaton.dfa.forward();
        let mut cache = dfa.create_cache();
        let mut row = |behind: Option<u8>| {
            let config = regex_automata::util::start::Config::new()
                .anchored(regex_automata::Anchored::Yes)
                .look_behind(behind);
            let start = dfa.start_state(&mut cache, &config).ok();
            let mut alive = [true; 256];
            for (b, alive) in (0..=255u8).zip(alive.iter_mut()) {
                // Any failure keeps the byte: the place is searched.
                if let Some(Ok(next)) = start.map(|s| dfa.next_state(&mut cache, s, b)) {
                    *alive = !next.is_dead();
                }
            }
            alive
        };
        let mut rows: Vec<[bool; 256]> = Vec::new();
        let index = |r: [bool; 256], rows: &mut Vec<[bool; 256]>| {
            let i = rows.iter().position(|x| *x == r).unwrap_or_else(|| {
                rows.push(r);
                rows.len() - 1
            });
            u8::try_from(i).ok()
        };
        let mut row_of = [0u8; 256];
        for (b, slot) in (0..=255u8).zip(row_of.iter_mut()) {
            *slot = index(row(Some(b)), &mut rows)?;
        }
        let text_start = row(None);
        rows.push(text_start);
        Some(Starts { rows, row_of })
    }

    /// The first place in `from..to` of `haystack` where a match can start.
    pub(crate) fn next(&self, haystack: &[u8], from: usize, to: usize) -> Option<usize> {
        let mut row = match from.checked_sub(1) {
            Some(before) => &self.rows[usize::from(self.row_of[usize::from(haystack[before])])],
            None => self.rows.last()?,
        };
        for (i, &b) in haystack.get(from..to)?.iter().enumerate() {
            if row[usize::from(b)] {
                return Some(from + i);
            }
            row = &self.rows[usize::from(self.row_of[usize::from(b)])];
        }
        None
    }
}

/// An open run of one byte class that ends a pattern (`…([^\s"']{4,})`, greedy). A lazy DFA
/// reading a match's run visits a match state at every byte, each a trip out of its fast loop,
/// and a value runs for tens of bytes; so the automaton matches the run `min` times only and
/// the match is read on over the class's bytes with a table. That is the same match: where the
/// pattern matches, which pattern wins and where its match starts depend only on whether `min`
/// bytes of the class follow the pattern's head (the run takes the least it must to decide
/// that), and a greedy run at the end then takes every byte of the class that follows.
pub(crate) struct Run {
    bytes: [bool; 256],
    /// The least number of the class's bytes the run takes.
    least: usize,
    /// The capture group the run is the whole of, if any.
    group: Option<usize>,
}

impl Run {
    /// `hir` with its last part (or a group that is its last part) `C{n,}`, greedy, turned into
    /// `C{n}`, and the run of `C`; `None` if it ends otherwise.
    fn split(hir: &Hir) -> Option<(Hir, Run)> {
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (last, before) = parts.split_last()?;
        let (capture, repetition) = match last.kind() {
            HirKind::Capture(c) => match c.sub.kind() {
                HirKind::Repetition(r) => (Some(c), r),
                _ => return None,
            },
            HirKind::Repetition(r) => (None, r),
            _ => return None,
        };
        let mut run = Run::of(repetition)?;
        run.group = capture.map(|c| c.index as usize);
        let least = Hir::repetition(Repetition {
            min: repetition.min,
            max: Some(repetition.min),
            greedy: true,
            sub: repetition.sub.clone(),
        });
        let least = match capture {
            Some(c) => Hir::capture(Capture {
                index: c.index,
                name: c.name.clone(),
                sub: Box::new(least),
            }),
            None => least,
        };
        let mut short = before.to_vec();
        short.push(least);
        Some((Hir::concat(short), run))
    }

    /// The run of `r` if it is `C{n,}` (`n` at least 1), greedy, over one class of bytes.
    fn of(r: &Repetition) -> Option<Run> {
        if r.max.is_some() || !r.greedy || r.min == 0 {
            return None;
        }
        let mut bytes = [false; 256];
        match r.sub.kind() {
            HirKind::Class(Class::Bytes(c)) => {
                for range in c.ranges() {
                    for b in range.start()..=range.end() {
                        bytes[usize::from(b)] = true;
                    }
                }
            }
            HirKind::Class(Class::Unicode(c)) => {
                for range in c.ranges() {
                    let (start, end) = (u32::from(range.start()), u32::from(range.end()));
                    if end > 0x7f {
                        return None;
                    }
                    for b in start..=end {
                        bytes[b as usize] = true;
                    }
                }
            }
            _ => return None,
        }
        Some(Run {
            bytes,
            least: r.min as usize,
            group: None,
        })
    }

    /// Where a run that has reached `at` ends: at the first byte before `limit` not in it.
    fn end(&self, haystack: &[u8], at: usize, limit: usize) -> usize {
        haystack[at..limit]
            .iter()
            .position(|&b| !self.bytes[usize::from(b)])
            .map_or(limit, |n| at + n)
    }
}

/// A value group that ends its pattern (`…=\s*([^\s]{4,})`), found in a match already made
/// with two lazy DFAs instead of a backtracker: every place where the pattern's head (all
/// before the group) can end, and whether the group's own pattern then runs exactly to the
/// match's end. Where exactly one place fits, the group starts there: the backtracker, which
/// follows the pattern's priorities, could only have found that one. Anything else (no place,
/// two, a DFA giving up) is left to the backtracker.
pub(crate) struct TailGroup {
    head: dfa::DFA,
    tail: Tail,
}

/// What says whether a tail group runs from a place to the match's end: its own lazy DFA, or,
/// for an open run of one class (`[^\s"']{4,}`), a table.
enum Tail {
    Dfa(Box<dfa::DFA>),
    Run(Box<Run>),
}

/// A [`TailGroup`]'s caches (the tail's, for a DFA tail).
#[derive(Clone)]
pub(crate) struct TailCache {
    head: dfa::Cache,
    tail: Option<dfa::Cache>,
}

impl TailGroup {
    /// For `pattern` whose last part is group `group`; `None` for any other shape.
    pub(crate) fn new(pattern: &str, group: usize) -> Option<TailGroup> {
        let syntax = crate::syntax();
        let hir = syntax::parse_with(pattern, &syntax).ok()?;
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (last, before) = parts.split_last()?;
        let HirKind::Capture(capture) = last.kind() else {
            return None;
        };
        if capture.index as usize != group {
            return None;
        }
        let dfa = |hir: &Hir| {
            let nfa = thompson::Compiler::new()
                .configure(
                    thompson::Config::new()
                        .utf8(false)
                        .which_captures(WhichCaptures::None),
                )
                .build_from_hir(hir)
                .ok()?;
            dfa::Builder::new()
                .configure(
                    dfa::Config::new()
                        .match_kind(MatchKind::All)
                        .cache_capacity(1 << 20)
                        .minimum_cache_clear_count(Some(3))
                        .minimum_bytes_per_state(Some(10)),
                )
                .build_from_nfa(nfa)
                .ok()
        };
        let tail = match capture.sub.kind() {
            HirKind::Repetition(r) => Run::of(r).map(|run| Tail::Run(Box::new(run))),
            _ => None,
        };
        Some(TailGroup {
            head: dfa(&Hir::concat(before.to_vec()))?,
            tail: match tail {
                Some(run) => run,
                None => Tail::Dfa(Box::new(dfa(&capture.sub)?)),
            },
        })
    }

    pub(crate) fn create_cache(&self) -> TailCache {
        TailCache {
            head: self.head.create_cache(),
            tail: match &self.tail {
                Tail::Dfa(tail) => Some(tail.create_cache()),
                Tail::Run(_) => None,
            },
        }
    }

    /// Where the group starts in the match `start..end` of `haystack`, if one place fits.
    pub(crate) fn start(
        &self,
        cache: &mut TailCache,
        haystack: &[u8],
        start: usize,
        end: usize,
    ) -> Option<usize> {
        let heads = Input::new(haystack)
            .span(start..end)
            .anchored(regex_automata::Anchored::Yes);
        let mut state = regex_automata::hybrid::dfa::OverlappingState::start();
        let mut fits = None;
        loop {
            self.head
                .try_search_overlapping_fwd(&mut cache.head, &heads, &mut state)
                .ok()?;
            let Some(head) = state.get_match() else {
                return fits;
            };
            let at = head.offset();
            let runs_to_end = match (&self.tail, cache.tail.as_mut()) {
                (Tail::Run(run), _) => end - at >= run.least && run.end(haystack, at, end) == end,
                (Tail::Dfa(tail), Some(tail_cache)) => {
                    let input = Input::new(haystack)
                        .span(at..end)
                        .anchored(regex_automata::Anchored::Yes);
                    tail.try_search_fwd(tail_cache, &input)
                        .ok()?
                        .is_some_and(|m| m.offset() == end)
                }
                // A cache made for another group: leave it to the backtracker.
                (Tail::Dfa(_), None) => return None,
            };
            if runs_to_end {
                if fits.is_some() {
                    return None;
                }
                fits = Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{bench_text, detectors::DETECTORS};
    use regex_automata::{Anchored, PatternID};

    /// The automaton reads open runs with a table; the PikeVM runs the patterns as written.
    /// Both must give the same match everywhere: unanchored, anchored, and anchored to one
    /// pattern, over text full of values that run on.
    #[test]
    fn open_runs_read_by_table_match_as_written() {
        let patterns: Vec<&str> = DETECTORS.iter().map(|d| d.pattern).collect();
        let keyword: Vec<&str> = DETECTORS
            .iter()
            .filter(|d| matches!(d.locate, crate::detectors::Locate::Keyword(_)))
            .map(|d| d.pattern)
            .collect();
        let mut text = bench_text::worst_case(20_000, 3);
        text.push_str(&bench_text::diverse(30_000, 3));
        text.push_str("password=abc\u{e9}def;x token: sk_live_ABCDEFGHIJKLMNOPQRSTUV=x secret=");
        let bytes = text.as_bytes();
        for (set, prefilter) in [(&patterns, true), (&keyword, false)] {
            let a = Automaton::new(&crate::parse(set).unwrap(), prefilter, 16 << 20).unwrap();
            assert!(a.runs.iter().filter(|r| r.is_some()).count() >= 3);
            let mut cache = a.create_cache();
            let mut pike = a.nfa.create_cache();
            let mut same = |input: Input<'_>| {
                let want = a.nfa.find(&mut pike, input.clone());
                assert_eq!(
                    a.search(&mut cache, &input).map(|(m, _)| m),
                    want,
                    "{:?}",
                    input.get_span()
                );
                want.is_some()
            };
            let mut found = 0;
            for at in (0..bytes.len()).step_by(11) {
                let to = (at + 300).min(bytes.len());
                found += usize::from(same(Input::new(bytes).range(at..to)));
                found += usize::from(same(Input::new(bytes).range(at..).anchored(Anchored::Yes)));
                let p = PatternID::new_unchecked(at % set.len());
                same(Input::new(bytes).range(at..).anchored(Anchored::Pattern(p)));
            }
            assert!(found > 500, "{found}");
        }
    }

    /// A place the start table refuses starts no match: the PikeVM, anchored there, finds none,
    /// for every class searched in regions, over text full of near-misses. The table must also
    /// refuse most places, or it would save nothing.
    #[test]
    fn refused_starts_start_no_match() {
        use crate::detectors::Locate;
        let mut text = bench_text::worst_case(12_000, 4);
        text.push_str(&bench_text::diverse(12_000, 4));
        text.push_str("4111 1111 1111 1111 +44 20 7946 0958 ::1 fe80::1 DE89370400440532013000");
        let bytes = text.as_bytes();
        for locate in [Locate::Digits, Locate::CapsDigit, Locate::HexColons] {
            let patterns: Vec<&str> = DETECTORS
                .iter()
                .filter(|d| d.locate == locate)
                .map(|d| d.pattern)
                .collect();
            let a = Automaton::new(&crate::parse(&patterns).unwrap(), false, 16 << 20).unwrap();
            let starts = Starts::new(&a).unwrap();
            let mut pike = a.nfa.create_cache();
            let (mut refused, mut matched) = (0, 0);
            for at in 0..bytes.len() {
                let input = Input::new(bytes).range(at..).anchored(Anchored::Yes);
                let found = a.nfa.find(&mut pike, input).is_some();
                matched += usize::from(found);
                if starts.next(bytes, at, at + 1).is_none() {
                    refused += 1;
                    assert!(!found, "{locate:?}: a match starts at {at}");
                }
            }
            assert!(matched > 0, "{locate:?}");
            assert!(
                refused > bytes.len() / 2,
                "{locate:?}: {refused} of {}",
                bytes.len()
            );
        }
    }
}
