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

pub(crate) struct Automaton {
    dfa: regex::Regex,
    /// For a search the lazy DFA gives up on: its cache cleared three times with fewer than 10
    /// bytes read per state built. The PikeVM is slower but cannot fail, and no input can make
    /// a search take more than time linear in its length.
    nfa: PikeVM,
}

/// An automaton's caches, one per thread scanning.
pub(crate) struct Cache {
    dfa: regex::Cache,
    nfa: pikevm::Cache,
}

impl Automaton {
    /// The patterns, leftmost-first (the first listed wins at a place). With `prefilter`, a
    /// search skips ahead to the patterns' literal prefixes when it can (a class searched over
    /// the whole text); `cache` bounds each lazy DFA's memory per thread.
    pub(crate) fn new(patterns: &[&str], prefilter: bool, cache: usize) -> Result<Self, String> {
        let syntax = syntax::Config::new().unicode(false).utf8(false);
        let pre = if prefilter {
            let hirs = syntax::parse_many_with(patterns, &syntax).map_err(|e| e.to_string())?;
            Prefilter::from_hirs_prefix(MatchKind::LeftmostFirst, &hirs)
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
        let dfa = regex::Regex::builder()
            .syntax(syntax)
            .thompson(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::None),
            )
            .dfa(config)
            .build_many(patterns)
            .map_err(|e| e.to_string())?;
        let nfa = PikeVM::builder()
            .syntax(syntax)
            .thompson(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::Implicit),
            )
            .configure(PikeVM::config().match_kind(MatchKind::LeftmostFirst))
            .build_many(patterns)
            .map_err(|e| e.to_string())?;
        Ok(Automaton { dfa, nfa })
    }

    pub(crate) fn create_cache(&self) -> Cache {
        Cache {
            dfa: self.dfa.create_cache(),
            nfa: self.nfa.create_cache(),
        }
    }

    pub(crate) fn pattern_len(&self) -> usize {
        self.dfa.pattern_len()
    }

    /// The leftmost-first match in `input`.
    pub(crate) fn search(&self, cache: &mut Cache, input: &Input<'_>) -> Option<Match> {
        match self.dfa.try_search(&mut cache.dfa, input) {
            Ok(found) => found,
            Err(_) => self.nfa.find(&mut cache.nfa, input.clone()),
        }
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
    tail: dfa::DFA,
}

/// A [`TailGroup`]'s caches.
pub(crate) struct TailCache {
    head: dfa::Cache,
    tail: dfa::Cache,
}

impl TailGroup {
    /// For `pattern` whose last part is group `group`; `None` for any other shape.
    pub(crate) fn new(pattern: &str, group: usize) -> Option<TailGroup> {
        use regex_syntax::hir::{Hir, HirKind};
        let syntax = syntax::Config::new().unicode(false).utf8(false);
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
        Some(TailGroup {
            head: dfa(&Hir::concat(before.to_vec()))?,
            tail: dfa(&capture.sub)?,
        })
    }

    pub(crate) fn create_cache(&self) -> TailCache {
        TailCache {
            head: self.head.create_cache(),
            tail: self.tail.create_cache(),
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
            let tail = Input::new(haystack)
                .span(at..end)
                .anchored(regex_automata::Anchored::Yes);
            let runs_to_end = self
                .tail
                .try_search_fwd(&mut cache.tail, &tail)
                .ok()?
                .is_some_and(|m| m.offset() == end);
            if runs_to_end {
                if fits.is_some() {
                    return None;
                }
                fits = Some(at);
            }
        }
    }
}
