//! # airlock-scan — PII and secret detection and masking
//!
//! Everything a tool returns passes through this before the model sees it. The detectors are
//! grouped by where their matches can be (after a keyword or literal, around an `@`, in runs
//! of digits; see [`locate`]); each group is one lazy DFA searched only there. Validators
//! (Luhn, Verhoeff, mod-97, SSN and card structure, placeholders, entropy) turn candidates into
//! findings; overlapping findings merge into one span masked by the strictest strategy.
//!
//! ```
//! use airlock_scan::{Scanner, Strategy};
//! let scanner = Scanner::builder().strategy("credit_card", Strategy::Partial).build().unwrap();
//! let masked = scanner.mask("card 4111 1111 1111 1111, mail ada@example.org").unwrap();
//! assert_eq!(masked, "card **** **** **** 1111, mail [EMAIL]");
//! ```

pub mod arguments;
mod automaton;
#[doc(hidden)]
pub mod bench_text;
pub mod detectors;
mod fold;
pub mod locate;
pub mod stream;
pub mod validate;

use std::collections::HashMap;

use airlock_core::clean::{CleanContext, CleanError, ResultCleaner};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::{
    self, backtrack, backtrack::BoundedBacktracker, pikevm::PikeVM,
};
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input, PatternID};
use sha2::{Digest, Sha256};

pub use detectors::{Category, DETECTORS, Detector, Locate, Partial};

/// How a finding is masked.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Keep a safe tail (the last 4 digits of a card, an e-mail's domain, a token's public
    /// prefix); the rest becomes `*`.
    Partial,
    /// `[EMAIL:3f2a9c1b]`: a stable keyed hash, so equal values stay linkable.
    Hash,
    /// `[EMAIL]`: the type only.
    TypeOnly,
    /// `[REDACTED]`.
    Full,
}

/// One finding: a UTF-8 byte range of the text and its type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Start (byte offset, on a character boundary).
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
    /// The detector's type name.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Findings of several types were merged into this span: it is masked in full whatever
    /// the type's strategy (a partial mask of a merged span could show another value).
    #[serde(skip)]
    pub merged: bool,
    /// A detail of the type, where the detector knows one: a phone number's country
    /// (ISO 3166 alpha-2, lower case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

/// The scanner could not be built.
#[derive(Debug)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Builds a [`Scanner`].
#[derive(Debug, Default)]
pub struct ScannerBuilder {
    disabled: Vec<String>,
    strategies: HashMap<String, Strategy>,
    default: Option<Strategy>,
    allow: Vec<String>,
    hash_key: Option<Vec<u8>>,
    max_chars: Option<usize>,
    custom: Vec<&'static Detector>,
    one_automaton: bool,
    warm_up: Option<usize>,
}

impl ScannerBuilder {
    /// A detector of your own: findings of `pattern` (ASCII classes) get the type `name`.
    /// Fails when the name is taken or the pattern does not compile.
    pub fn custom(mut self, name: &str, pattern: &str) -> Result<Self, BuildError> {
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(BuildError(format!(
                "custom detector {name:?}: a name is letters, digits and `_`"
            )));
        }
        if DETECTORS
            .iter()
            .chain(self.custom.iter().copied())
            .any(|d| d.kind == name)
        {
            return Err(BuildError(format!(
                "custom detector {name:?}: the name is taken"
            )));
        }
        regex::bytes::Regex::new(&format!("(?-u){pattern}"))
            .map_err(|e| BuildError(format!("custom detector {name:?}: {e}")))?;
        // Leaked once per configuration load: detectors live as long as the process.
        let d: &'static Detector = Box::leak(Box::new(Detector {
            kind: Box::leak(name.to_owned().into_boxed_str()),
            category: Category::Custom,
            pattern: Box::leak(pattern.to_owned().into_boxed_str()),
            group: 0,
            validate: detectors::any,
            bounded: false,
            partial: Partial::Nothing,
            locate: Locate::Anywhere,
            context: detectors::any_context,
            detail: "",
        }));
        self.custom.push(d);
        Ok(self)
    }

    /// Search every detector with one automaton over the whole text, as the scanner did
    /// before it looked only where matches can be: the reference the tests and benchmarks
    /// compare with.
    #[doc(hidden)]
    #[must_use]
    pub fn one_automaton(mut self) -> Self {
        self.one_automaton = true;
        self
    }

    /// Scan this many bytes of generated tool output (`bench_text::diverse`, a seed of its
    /// own) while building, and start every thread's caches from the states that built
    /// (default [`WARM_UP`]; `0` for none). Findings are the same either way; only the first
    /// texts a process scans get faster (see [`WARM_UP`]).
    #[must_use]
    pub fn warm_up(mut self, bytes: usize) -> Self {
        self.warm_up = Some(bytes);
        self
    }

    /// Cut cleaned texts longer than this many characters, at a line boundary when one is
    /// near, with a notice (default: no limit).
    #[must_use]
    pub fn max_chars(mut self, n: usize) -> Self {
        self.max_chars = Some(self.max_chars.map_or(n, |m| m.min(n)).max(16));
        self
    }

    /// Cut cleaned texts longer than about this many tokens (4 characters a token).
    #[must_use]
    pub fn max_tokens(self, n: usize) -> Self {
        self.max_chars(n.saturating_mul(4))
    }

    /// Turn a detector off by its type name.
    #[must_use]
    pub fn disable(mut self, kind: &str) -> Self {
        self.disabled.push(kind.to_owned());
        self
    }

    /// Mask this type with this strategy.
    #[must_use]
    pub fn strategy(mut self, kind: &str, s: Strategy) -> Self {
        self.strategies.insert(kind.to_owned(), s);
        self
    }

    /// The strategy for types without their own (default: `type_only`).
    #[must_use]
    pub fn default_strategy(mut self, s: Strategy) -> Self {
        self.default = Some(s);
        self
    }

    /// Values never masked: an exact value, or `*suffix` (`*@mycompany.com`).
    #[must_use]
    pub fn allow(mut self, value: &str) -> Self {
        self.allow.push(value.to_owned());
        self
    }

    /// The key of `hash` masking (default: random per process, so hashes link values within
    /// one run only).
    #[must_use]
    pub fn hash_key(mut self, key: &[u8]) -> Self {
        self.hash_key = Some(key.to_vec());
        self
    }

    /// Compile.
    pub fn build(self) -> Result<Scanner, BuildError> {
        for kind in self.disabled.iter().chain(self.strategies.keys()) {
            if !DETECTORS
                .iter()
                .chain(self.custom.iter().copied())
                .any(|d| d.kind == kind)
            {
                return Err(BuildError(format!("no detector is called {kind:?}")));
            }
        }
        // Custom detectors first: where they match, they win.
        let mut detectors: Vec<&'static Detector> = self
            .custom
            .iter()
            .copied()
            .chain(DETECTORS.iter())
            .filter(|d| !self.disabled.iter().any(|k| k == d.kind))
            .collect();
        // Right after the whole-block key pattern (which wins where both match), its header
        // alone: a block whose end was cut off.
        let cut_key = detectors
            .iter()
            .position(|d| d.kind == "private_key")
            .map(|i| {
                detectors.insert(i + 1, &detectors::CUT_PRIVATE_KEY);
                i + 1
            });
        let classes = classes(&detectors, self.one_automaton)?;
        let groups = detectors
            .iter()
            .map(|d| {
                (d.group > 0)
                    .then(|| Groups::new(d.pattern, d.group))
                    .transpose()
                    .map_err(|e| BuildError(format!("{}: {e}", d.kind)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.hash_key.as_ref().is_some_and(|k| k.len() < 16) {
            return Err(BuildError(
                "the hash key is shorter than 16 bytes: short keys let masked values be guessed back".into(),
            ));
        }
        let hash_key = self.hash_key.unwrap_or_else(|| {
            use std::hash::{BuildHasher, RandomState};
            let a = RandomState::new().hash_one(0u8).to_le_bytes();
            let b = RandomState::new().hash_one(1u8).to_le_bytes();
            [a, b].concat()
        });
        let traits = detectors
            .iter()
            .map(|d| Traits {
                numeric: NUMERIC.contains(&d.kind),
                generic: GENERIC.contains(&d.kind),
                secret: d.category != Category::Pii,
            })
            .collect();
        let mut masked: Vec<(&'static str, std::sync::atomic::AtomicU64)> = Vec::new();
        for d in &detectors {
            if !masked.iter().any(|(k, _)| *k == d.kind) {
                masked.push((d.kind, std::sync::atomic::AtomicU64::new(0)));
            }
        }
        let warm_up = match self.one_automaton {
            // The reference automaton is slow on varied text, and only tests use it.
            true => 0,
            false => self.warm_up.unwrap_or(WARM_UP),
        };
        let mut scanner = Scanner {
            masked,
            caches: cache_pool(&classes),
            classes,
            groups,
            traits,
            cut_key,
            detectors,
            strategies: self.strategies,
            default: self.default.unwrap_or(Strategy::TypeOnly),
            allow: self.allow,
            hash_key,
            max_chars: self.max_chars,
        };
        if warm_up > 0 {
            scanner.warm(warm_up);
        }
        Ok(scanner)
    }
}

/// How many bytes of generated tool output a scanner scans while it is built (see
/// [`ScannerBuilder::warm_up`]): 1 MiB, or 64 KiB in a debug build (the tests build hundreds of
/// scanners, and the warm-up changes no finding). The lazy DFAs build their states as they meet
/// text, so a scanner fresh from its build was slowest on its first tool result. Measured with
/// `scan-speed slices 8 [cold] [FILE]`, each figure in a process of its own (release build):
/// the first 100 KB after the build took 0.68–0.69 ms as built against 2.7–2.9 ms with no
/// warm-up on the generated diverse text, and 0.68–0.84 against 1.5–1.8 ms on 9 MB of text the
/// generator did not write (package logs, and the Markdown, JSON, TOML, CSV and YAML files of
/// the crates this project depends on); on a faster CPU later, 0.35–0.45 against 1.57 ms on
/// the generated text. The cost: the build takes 36–39 ms instead of 8–9 ms, and a built
/// scanner holds 3.9 MB instead of 1.0 MB (the warmed caches and the copy the first thread
/// takes), for each scanner a configuration builds (one per tenant with rules of its own; the
/// argument check and the result cleaner share them).
pub const WARM_UP: usize = if cfg!(debug_assertions) {
    64 << 10
} else {
    1 << 20
};

/// The seed of the warm-up text: no benchmark or test text uses it.
const WARM_UP_SEED: u64 = 0x5ca1_ab1e;

/// Detectors searched together: one automaton, and where to run it.
struct Class {
    re: std::sync::Arc<automaton::Automaton>,
    /// The detector index of each of the automaton's patterns.
    members: Vec<usize>,
    place: Place,
    /// After a match that is no finding, which other patterns may match at the same place.
    retry: Retry,
    /// Where a match can start, by the byte before and the byte (classes searched in regions;
    /// see [`automaton::Starts`]).
    starts: Option<automaton::Starts>,
}

/// Where a class is searched (see [`Locate`]), with what finds the places.
enum Place {
    Anywhere,
    Literals(locate::Anchors),
    Keywords(locate::Anchors),
    Token(locate::Prefixes),
    At,
    Digits,
    CapsDigit,
    HexColons,
}

/// How a class finds the other patterns that match where one matched but was no finding.
enum Retry {
    /// Per anchor (the literal or keyword found there), the patterns that start with it.
    ByAnchor(Vec<Vec<usize>>),
    /// The patterns, every match reported: one pass says which match there.
    Overlapping(Regex),
}

/// What resolves one detector's value group in a match already found: two lazy DFAs where the
/// group ends the pattern (see [`automaton::TailGroup`]), else a bounded backtracker for the
/// usual short match, a PikeVM for a long one.
struct Groups {
    tail: Option<automaton::TailGroup>,
    backtracker: BoundedBacktracker,
    pikevm: PikeVM,
}

impl Groups {
    fn new(pattern: &str, group: usize) -> Result<Groups, String> {
        let syntax = syntax();
        let thompson = thompson::Config::new().utf8(false);
        Ok(Groups {
            tail: automaton::TailGroup::new(pattern, group),
            backtracker: BoundedBacktracker::builder()
                .syntax(syntax)
                .thompson(thompson.clone())
                .build(pattern)
                .map_err(|e| e.to_string())?,
            pikevm: PikeVM::builder()
                .syntax(syntax)
                .thompson(thompson)
                .build(pattern)
                .map_err(|e| e.to_string())?,
        })
    }

    /// The span of group `group` in the match of `input` (anchored, spanning the match), or
    /// `None` if it took no part in the match. The two tail DFAs answer first where they can;
    /// then the backtracker, and a match too long for it, or one it gives up on, goes to the
    /// PikeVM, which cannot fail.
    fn group(
        &self,
        input: &Input<'_>,
        group: usize,
        work: &mut GroupWork,
    ) -> Option<(usize, usize)> {
        let span = input.get_span();
        if let (Some(tail), Some(cache)) = (&self.tail, work.tail.as_mut())
            && let Some(at) = tail.start(cache, input.haystack(), span.start, span.end)
        {
            return Some((at, span.end));
        }
        let found = span.len() <= self.backtracker.max_haystack_len()
            && self
                .backtracker
                .try_search(&mut work.backtrack, input, &mut work.caps)
                .is_ok();
        if !found {
            self.pikevm.search(&mut work.pike, input, &mut work.caps);
        }
        let m = work.caps.get_group(group)?;
        Some((m.start, m.end))
    }

    fn work(&self) -> GroupWork {
        GroupWork {
            tail: self.tail.as_ref().map(automaton::TailGroup::create_cache),
            backtrack: self.backtracker.create_cache(),
            pike: self.pikevm.create_cache(),
            caps: self.pikevm.create_captures(),
        }
    }
}

/// One detector's group engines' caches and captures, reused through a scan.
#[derive(Clone)]
struct GroupWork {
    tail: Option<automaton::TailCache>,
    backtrack: backtrack::Cache,
    pike: regex_automata::nfa::thompson::pikevm::Cache,
    caps: regex_automata::util::captures::Captures,
}

/// Caches of the engines that resolve groups, per detector, for one scan.
#[derive(Clone, Default)]
struct Scratch {
    groups: Vec<Option<GroupWork>>,
    /// The patterns matching where a retry looks, kept between retries.
    here: Option<regex_automata::PatternSet>,
}

/// One scan's caches: per class, its automaton's and its retry automaton's; the group
/// engines'. Taken from a pool once per scan, so a search pays no pool access of its own.
#[derive(Clone)]
struct Caches {
    classes: Vec<automaton::Cache>,
    retry: Vec<Option<regex_automata::meta::Cache>>,
    scratch: Scratch,
}

type MakeCaches =
    Box<dyn Fn() -> Caches + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

fn cache_pool(classes: &[Class]) -> Pool<Caches, MakeCaches> {
    let automata: Vec<(std::sync::Arc<automaton::Automaton>, Option<Regex>)> = classes
        .iter()
        .map(|c| {
            let retry = match &c.retry {
                Retry::Overlapping(all) => Some(all.clone()),
                Retry::ByAnchor(_) => None,
            };
            (c.re.clone(), retry)
        })
        .collect();
    Pool::new(Box::new(move || Caches {
        classes: automata.iter().map(|(a, _)| a.create_cache()).collect(),
        retry: automata
            .iter()
            .map(|(_, all)| all.as_ref().map(Regex::create_cache))
            .collect(),
        scratch: Scratch::default(),
    }))
}

/// `raw` findings `(start, end, detector)` put in the order of their starts, the longer first
/// where two start together, as a stable sort would put them. They come nearly in that order:
/// matches are taken in the order of their starts, and a value found by its context may hold a
/// longer finding of a specific type that starts with it. The library's stable sort treats runs
/// shorter than the square root of their number (64 below 4 096) as unsorted and sorts them
/// afresh: 3.3 % of the worst case's instructions, with one finding in 80 out of place. An
/// insertion sort puts them in order in about one pass (and stays out of line: inlined, it
/// made the rest of `find_plain` cost more). It only swaps neighbours out of order, so findings of the
/// same place keep their order; past a budget of swaps (a text built to invert many) the rest is
/// left to the stable sort, which then gives the same order.
#[inline(never)]
fn in_order(raw: &mut [(usize, usize, usize)]) {
    let key = |&(s, e, _): &(usize, usize, usize)| (s, std::cmp::Reverse(e));
    let mut budget = raw.len().saturating_mul(4).saturating_add(64);
    for i in 1..raw.len() {
        if key(&raw[i - 1]) <= key(&raw[i]) {
            continue;
        }
        let mut j = i;
        while j > 0 && key(&raw[j - 1]) > key(&raw[j]) {
            if budget == 0 {
                raw.sort_by_key(key);
                return;
            }
            budget -= 1;
            raw.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Where a class's matches are looked for, in one scan.
enum Source {
    /// Unanchored searches inside these spans, in order.
    Regions(Vec<(usize, usize)>),
    /// Anchored searches at these places `(offset, anchor)`, in order.
    Starts(Vec<(usize, usize)>),
}

/// One class's progress through a text.
struct Cursor {
    source: Source,
    /// The next region or start.
    i: usize,
    /// The class's own next place: after a match of it that was no finding.
    from: usize,
    /// Its next match, found ahead, until taken or overtaken.
    next: Option<Match>,
    done: bool,
    /// The end of the furthest refused match (anchored classes), and what is left of the
    /// budget for reading inside refused matches again.
    refused_until: usize,
    budget: usize,
}

/// A class's match: the detector, the end of the region it was found in (or of the text),
/// and the literal or keyword found at its start (anchored classes).
#[derive(Clone, Copy)]
struct Match {
    start: usize,
    end: usize,
    pid: usize,
    to: usize,
    anchor: Option<usize>,
    /// Where the value group starts, when the automaton knows it: `(group, start)`.
    value: Option<(usize, usize)>,
}

/// The lazy DFA cache of each of a class's automata, per thread scanning. With every detector
/// in one automaton, its lazy DFA built so many states on varied text that the default 2 MiB
/// cache was cleared again and again, gave up and fell back to the PikeVM (8 MB/s on the
/// diverse benchmark text; 230 MB/s with 64 MiB). A class holds few detectors and reads little
/// of the text, so its states stay few. Memory is bounded by this, per class and per thread.
fn cache_capacity(one: bool) -> usize {
    if one { 64 << 20 } else { 16 << 20 }
}

/// One class's automaton over its patterns (parsed: `hirs`), every match reported (which
/// patterns match at a place where the first to match was no finding).
fn overlapping(hirs: &[regex_syntax::hir::Hir], one: bool) -> Result<Regex, BuildError> {
    Regex::builder()
        .configure(
            Regex::config()
                .match_kind(regex_automata::MatchKind::All)
                .hybrid_cache_capacity(cache_capacity(one))
                .utf8_empty(false)
                .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| BuildError(format!("the detectors do not compile: {e}")))
}

/// The literals or keywords of a class's detectors, each with the class's patterns that start
/// with it. A literal that starts with another is dropped (the shorter one finds its places),
/// so at most one is found at any place.
fn anchors(
    detectors: &[&'static Detector],
    members: &[usize],
) -> Result<(Vec<&'static str>, Vec<Vec<usize>>), BuildError> {
    let of = |i: usize| match detectors[i].locate {
        Locate::Literal(a) | Locate::Keyword(a) => a,
        _ => &[],
    };
    let mut all: Vec<&str> = members.iter().flat_map(|&i| of(i)).copied().collect();
    all.sort_unstable();
    all.dedup();
    let kept: Vec<&str> = all
        .iter()
        .filter(|a| !all.iter().any(|b| b != *a && a.starts_with(b)))
        .copied()
        .collect();
    let starting = kept
        .iter()
        .map(|k| {
            (0..members.len())
                .filter(|&m| of(members[m]).iter().any(|a| a.starts_with(k)))
                .collect()
        })
        .collect();
    Ok((kept, starting))
}

/// The detectors grouped into classes by [`Locate`] (custom ones in a class of their own, so
/// their patterns cannot spoil the built-in secrets' literal prefilter), each compiled into one
/// automaton. With `one`, every detector in one class searched everywhere.
fn classes(detectors: &[&'static Detector], one: bool) -> Result<Vec<Class>, BuildError> {
    let mut keys: Vec<(Locate, bool)> = Vec::new();
    let mut grouped: Vec<Vec<usize>> = Vec::new();
    for (i, d) in detectors.iter().enumerate() {
        let key = if one {
            (Locate::Anywhere, false)
        } else {
            (d.locate, d.category == Category::Custom)
        };
        match keys
            .iter()
            .position(|k| k.0.same_class(key.0) && k.1 == key.1)
        {
            Some(c) => grouped[c].push(i),
            None => {
                keys.push(key);
                grouped.push(vec![i]);
            }
        }
    }
    // One pass finds the token starts, with one class's prefixes (`find_plain`).
    if keys.iter().filter(|(l, _)| *l == Locate::Token).count() > 1 {
        return Err(BuildError(
            "detectors found at token starts must form one class".into(),
        ));
    }
    keys.into_iter()
        .zip(grouped)
        .map(|((locate, _), members)| {
            let patterns: Vec<&str> = members.iter().map(|&i| detectors[i].pattern).collect();
            let compile = |e| BuildError(format!("the detectors do not compile: {e}"));
            let hirs = parse(&patterns).map_err(compile)?;
            let re = automaton::Automaton::new(
                &hirs,
                matches!(locate, Locate::Anywhere),
                cache_capacity(one),
            )
            .map(std::sync::Arc::new)
            .map_err(compile)?;
            let overlapping = || overlapping(&hirs, one).map(Retry::Overlapping);
            let (place, retry) = match locate {
                Locate::Literal(_) | Locate::Keyword(_) => {
                    let (anchors, starting) = anchors(detectors, &members)?;
                    let finder = locate::Anchors::new(&anchors).map_err(|e| {
                        BuildError(format!("the detectors' literals do not compile: {e}"))
                    })?;
                    let place = if matches!(locate, Locate::Literal(_)) {
                        Place::Literals(finder)
                    } else {
                        // `keyword_starts` lowers the text by one bit, which is exact for
                        // letters only.
                        if let Some(k) = anchors
                            .iter()
                            .find(|k| !k.bytes().all(|b| b.is_ascii_lowercase()))
                        {
                            return Err(BuildError(format!(
                                "keyword {k:?} is not lower-case letters only"
                            )));
                        }
                        Place::Keywords(finder)
                    };
                    (place, Retry::ByAnchor(starting))
                }
                Locate::Token => {
                    // A start inside a refused match may be skipped once the budget for reading
                    // them again is spent (`next_match`): that loses nothing only where such a
                    // start could make no finding, glued to the match before it. So the value
                    // is the whole match, glued values are refused, and (`token_prefixes`) the
                    // match is token bytes alone.
                    if let Some(&i) = members
                        .iter()
                        .find(|&&i| !detectors[i].bounded || detectors[i].group != 0)
                    {
                        return Err(BuildError(format!(
                            "{} is found at token starts, so its value must be its whole match and refuse values glued to a longer token",
                            detectors[i].kind
                        )));
                    }
                    let prefixes = locate::token_prefixes(&patterns, &hirs)
                        .map_err(|e| BuildError(format!("a detector's place is wrong: {e}")))?;
                    (Place::Token(prefixes), overlapping()?)
                }
                Locate::Anywhere => (Place::Anywhere, overlapping()?),
                Locate::At => {
                    for (pattern, hir) in patterns.iter().zip(&hirs) {
                        locate::check_at(pattern, hir).map_err(|e| {
                            BuildError(format!("a detector's place is wrong: {e}"))
                        })?;
                    }
                    (Place::At, overlapping()?)
                }
                Locate::Digits => (Place::Digits, overlapping()?),
                Locate::CapsDigit => (Place::CapsDigit, overlapping()?),
                Locate::HexColons => (Place::HexColons, overlapping()?),
            };
            let starts = match place {
                Place::Digits | Place::CapsDigit | Place::HexColons => {
                    automaton::Starts::new(&re)
                }
                _ => None,
            };
            Ok(Class {
                re,
                members,
                place,
                retry,
                starts,
            })
        })
        .collect()
}

/// The scanner: find and mask PII and secrets.
pub struct Scanner {
    /// The detectors grouped by where they are searched.
    classes: Vec<Class>,
    /// Their automata's caches, one set per thread scanning at a time.
    caches: Pool<Caches, MakeCaches>,
    /// Per detector whose value is a group of its match, its pattern alone, to find the group.
    groups: Vec<Option<Groups>>,
    /// Per detector, what `find` needs to know of it.
    traits: Vec<Traits>,
    /// The detector of key blocks cut off (its findings run to the end of the text).
    cut_key: Option<usize>,
    detectors: Vec<&'static Detector>,
    strategies: HashMap<String, Strategy>,
    default: Strategy,
    allow: Vec<String>,
    hash_key: Vec<u8>,
    max_chars: Option<usize>,
    /// Values masked so far, by type (for metrics).
    masked: Vec<(&'static str, std::sync::atomic::AtomicU64)>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("detectors", &self.detectors.len())
            .finish_non_exhaustive()
    }
}

/// What `find` needs to know of a detector, computed once.
#[derive(Clone, Copy, Debug)]
struct Traits {
    /// It matches numbers (cards, phones, IPs): a failed numeric candidate is retried against
    /// the other numeric detectors only.
    numeric: bool,
    /// It finds values by their context alone (see [`GENERIC`]).
    generic: bool,
    /// A secret (or a custom type), not personal data.
    secret: bool,
}

/// Detectors whose matches are numbers; only these compete for the same digits.
const NUMERIC: &[&str] = &[
    "iban",
    "credit_card",
    "us_ssn",
    "aadhaar",
    "phone",
    "ipv4",
    "ipv6",
];

/// Detectors that find values by their context alone; a specific detector matching the same
/// value names it instead.
const GENERIC: &[&str] = &[
    "high_entropy_secret",
    "password_assignment",
    "password_argument",
    "bearer_token",
];

/// Bytes that continue a token: a value glued to one of these is part of something longer.
/// The token starts (`locate::token_prefixes`) are word starts inside runs of them.
pub(crate) fn glue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// How every pattern is read: bytes, ASCII classes (`\w`, `\s`, `(?i)` are ASCII only), and
/// matches that may split a UTF-8 character (the scanner moves spans to whole characters).
pub(crate) fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// `patterns` read as [`syntax`] says, once for the automaton and every check built from them.
pub(crate) fn parse(patterns: &[&str]) -> Result<Vec<regex_syntax::hir::Hir>, String> {
    regex_automata::util::syntax::parse_many_with(patterns, &syntax()).map_err(|e| e.to_string())
}

impl Scanner {
    /// A builder with every detector on.
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::default()
    }

    /// The detectors in use (custom ones first).
    pub fn detectors(&self) -> Vec<&'static Detector> {
        self.detectors
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.cut_key)
            .map(|(_, d)| *d)
            .collect()
    }

    /// Values masked so far by this scanner, by type (types never masked are left out).
    pub fn masked(&self) -> Vec<(&'static str, u64)> {
        self.masked
            .iter()
            .map(|(k, n)| (*k, n.load(std::sync::atomic::Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The type names of the detectors in use, each once (several detectors can find one
    /// type: `phone` in each country's format).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = Vec::new();
        for d in &self.detectors {
            if !kinds.contains(&d.kind) {
                kinds.push(d.kind);
            }
        }
        kinds
    }

    /// The value span of detector `i`'s match at `start..end`, if it is a finding. `value`:
    /// where the automaton found a value group to start (`(group, start)`), if it knows.
    fn accept(
        &self,
        i: usize,
        text: &str,
        (start, end): (usize, usize),
        value: Option<(usize, usize)>,
        scratch: &mut Scratch,
    ) -> Option<(usize, usize)> {
        let d = self.detectors[i];
        let bytes = text.as_bytes();
        // The context is read first where the value is a group found by its context (a key
        // and its value), last where the value is the whole match: a number's checks cost
        // less than reading the line before it, and most candidates fail them (`0.0.0.0`, a
        // run of digits that is no card). The context is the match's alone, so the order
        // changes nothing found.
        let context_first = d.group != 0;
        if context_first && !(d.context)(bytes, start, end) {
            return None;
        }
        let found = |span| (context_first || (d.context)(bytes, start, end)).then_some(span);
        let (mut s, mut e) = (start, end);
        if let Some((_, at)) = value.filter(|&(g, _)| g == d.group) {
            s = at;
        } else if let Some(g) = &self.groups[i] {
            // Only the match's own bytes are read again (look-around still sees its
            // neighbours).
            let input = Input::new(bytes).span(start..end).anchored(Anchored::Yes);
            if scratch.groups.len() <= i {
                scratch.groups.resize_with(self.detectors.len(), || None);
            }
            let work = scratch.groups[i].get_or_insert_with(|| g.work());
            // A value the engine cannot place is masked with its whole match (fail closed).
            (s, e) = g.group(&input, d.group, work).unwrap_or((start, end));
        }
        // Whole characters only.
        while s > 0 && !text.is_char_boundary(s) {
            s -= 1;
        }
        while e < text.len() && !text.is_char_boundary(e) {
            e += 1;
        }
        let value = &text[s..e];
        // Glued to a longer token: a letter, digit, `_`, `-` or `.` (not a sentence's full
        // stop) right before or after.
        let glued_before =
            s > 0 && glue(bytes[s - 1]) && !(bytes[s - 1] == b'.' && s >= 2 && !glue(bytes[s - 2]));
        let glued_after = |e: usize| {
            e < bytes.len()
                && glue(bytes[e])
                && !(bytes[e] == b'.' && (e + 1 == bytes.len() || !glue(bytes[e + 1])))
        };
        if d.bounded && glued_before {
            return None;
        }
        if !(d.bounded && glued_after(e)) {
            if self.allowed(value) {
                return None;
            }
            if (d.validate)(value) {
                return found((s, e));
            }
        }
        // A greedy number may have taken a neighbour's digits (`4111…1111 12/27`, `…1111 1-2
        // days`): try it shorter, ending before each separator, longest first.
        if d.bounded && d.group == 0 {
            for (i, c) in value.char_indices().rev() {
                if (c == ' ' || c == '-') && i > 0 {
                    let shorter = &value[..i];
                    if !glued_after(s + i) && (d.validate)(shorter) && !self.allowed(shorter) {
                        return found((s, s + i));
                    }
                }
            }
        }
        None
    }

    /// Scan `bytes` of generated text, then start every thread's caches from the ones that
    /// scan warmed.
    fn warm(&mut self, bytes: usize) {
        static TEXT: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| bench_text::diverse(WARM_UP, WARM_UP_SEED));
        let fresh;
        let text = if bytes <= TEXT.len() {
            let mut cut = bytes;
            while !TEXT.is_char_boundary(cut) {
                cut -= 1;
            }
            &TEXT[..cut]
        } else {
            fresh = bench_text::diverse(bytes, WARM_UP_SEED);
            fresh.as_str()
        };
        drop(self.find(text));
        // The caches that warmed go to the first thread to scan; each later one gets a copy of
        // them as they were, made now rather than in its first scan.
        let warmed = self.caches.get().clone();
        let first = std::sync::Mutex::new(Some(warmed.clone()));
        self.caches = Pool::new(Box::new(move || {
            let taken = first.lock().ok().and_then(|mut f| f.take());
            taken.unwrap_or_else(|| warmed.clone())
        }));
    }

    fn allowed(&self, value: &str) -> bool {
        self.allow.iter().any(|a| match a.strip_prefix('*') {
            Some(suffix) => value.ends_with(suffix),
            None => value == a,
        })
    }

    /// Every finding in `text`, in order, not overlapping (overlaps are merged into one span
    /// of the type found first). Look-alike spellings (`４１１１`, `ada＠corp.example`, a
    /// zero-width space or soft hyphen inside a value) are found as their plain form; the
    /// span covers the original characters.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        // Look-alike spellings are matched in their plain form, found in the original.
        let Some(folded) = fold::fold(text) else {
            return self.find_plain(text);
        };
        let mut found = self.find_plain(&folded.text);
        let spans = folded.original(found.iter().map(|f| (f.start, f.end)));
        for (f, (start, end)) in found.iter_mut().zip(spans) {
            (f.start, f.end) = (start, end);
        }
        found
    }

    /// [`Scanner::find`] on text already folded.
    fn find_plain(&self, text: &str) -> Vec<Finding> {
        let bytes = text.as_bytes();
        let mut raw: Vec<(usize, usize, usize)> = Vec::new();
        let wants = |p: fn(&Place) -> bool| self.classes.iter().any(|c| p(&c.place));
        let mut numbers = locate::numbers(
            bytes,
            locate::Want {
                digits: wants(|p| matches!(p, Place::Digits)),
                caps: wants(|p| matches!(p, Place::CapsDigit)),
                hex_colons: wants(|p| matches!(p, Place::HexColons)),
                tokens: self.classes.iter().find_map(|c| match &c.place {
                    Place::Token(p) => Some(p),
                    _ => None,
                }),
            },
        );
        let mut cursors: Vec<Cursor> = self
            .classes
            .iter()
            .map(|class| {
                let source = match &class.place {
                    Place::Anywhere => Source::Regions(vec![(0, bytes.len())]),
                    Place::Literals(ac) => Source::Starts(locate::literal_starts(bytes, ac)),
                    Place::Keywords(ac) => Source::Starts(locate::keyword_starts(bytes, ac)),
                    Place::Token(_) => Source::Starts(std::mem::take(&mut numbers.tokens)),
                    Place::At => Source::Starts(locate::at_starts(bytes)),
                    Place::Digits => Source::Regions(std::mem::take(&mut numbers.digits).0),
                    Place::CapsDigit => Source::Regions(std::mem::take(&mut numbers.caps).0),
                    Place::HexColons => Source::Regions(std::mem::take(&mut numbers.hex_colons).0),
                };
                Cursor {
                    source,
                    i: 0,
                    from: 0,
                    next: None,
                    done: false,
                    refused_until: 0,
                    budget: bytes.len().saturating_mul(8).saturating_add(1 << 16),
                }
            })
            .collect();
        // The classes' matches are taken in the order of their starts, as one automaton over
        // the whole text would find them: a match inside an earlier finding is skipped.
        let mut caches = self.caches.get();
        let Caches {
            classes: class_caches,
            retry: retry_caches,
            scratch,
        } = &mut *caches;
        let mut at = 0;
        loop {
            let mut best: Option<(usize, usize, usize)> = None; // (start, detector, cursor)
            for (k, (cursor, class)) in cursors.iter_mut().zip(&self.classes).enumerate() {
                if cursor.next.is_some_and(|c| c.start < at) {
                    cursor.next = None;
                }
                if cursor.next.is_none() && !cursor.done {
                    cursor.next = self.next_match(class, &mut class_caches[k], cursor, text, at);
                    cursor.done = cursor.next.is_none();
                }
                if let Some(c) = cursor.next
                    && best.is_none_or(|(s, p, _)| (c.start, c.pid) < (s, p))
                {
                    best = Some((c.start, c.pid, k));
                }
            }
            let Some((_, _, k)) = best else { break };
            let (cursor, class) = (&mut cursors[k], &self.classes[k]);
            let Some(m) = cursor.next.take() else { break };
            cursor.from = m.start + 1;
            if Some(m.pid) == self.cut_key {
                // A key block with no end in sight: masked to the end of the text.
                raw.push((m.start, text.len(), m.pid));
                break;
            }
            let found = match self.accept(m.pid, text, (m.start, m.end), m.value, scratch) {
                Some((s, e)) => Some((s, e, m.pid, m.end)),
                None => {
                    // The first pattern of the class to match here was no finding: try the
                    // others of the class that can start here, anchored here. Other classes'
                    // matches here are still taken in turn.
                    if matches!(cursor.source, Source::Starts(_)) {
                        cursor.refused_until = cursor.refused_until.max(m.end);
                    }
                    self.retry(
                        class,
                        (&mut class_caches[k], retry_caches[k].as_mut()),
                        text,
                        m,
                        scratch,
                    )
                }
            };
            if let Some((s, e, pid, end)) = found {
                raw.push((s, e, pid));
                // A value found by its context (`token = …`) may hold another of its class's
                // or be a specific type's (only short values: a long one is masked whole, and
                // looking inside every long value again would make runs of assignments
                // quadratic).
                at = if self.traits[pid].generic && e - s <= 256 {
                    s.max(m.start + 1)
                } else {
                    end.max(m.start + 1)
                };
            }
        }
        in_order(&mut raw);
        // Merge overlaps; `named` is the detector naming each merged span.
        let mut out: Vec<Finding> = Vec::with_capacity(raw.len());
        let mut named: Vec<usize> = Vec::with_capacity(raw.len());
        for (s, e, pid) in raw {
            match (out.last_mut(), named.last_mut()) {
                (Some(last), Some(by)) if s < last.end => {
                    last.end = last.end.max(e);
                    let (new, old) = (self.traits[pid], self.traits[*by]);
                    if self.detectors[pid].kind != last.kind {
                        last.merged = true;
                    }
                    // A secret names the span over personal data; a specific type over one
                    // found by context alone.
                    if (new.secret && !old.secret)
                        || (old.generic && !new.generic && new.secret == old.secret)
                    {
                        last.kind = self.detectors[pid].kind;
                        last.detail = Some(detectors::detail(self.detectors[pid], &text[s..e]))
                            .filter(|d| !d.is_empty());
                        *by = pid;
                    }
                }
                _ => {
                    out.push(Finding {
                        start: s,
                        end: e,
                        kind: self.detectors[pid].kind,
                        merged: false,
                        detail: Some(detectors::detail(self.detectors[pid], &text[s..e]))
                            .filter(|d| !d.is_empty()),
                    });
                    named.push(pid);
                }
            }
        }
        out
    }

    /// The class's next match at or after `max(at, cursor.from)`, found through its regions
    /// or from its starts. Searches from starts are anchored, so each stops where its patterns
    /// cannot go on. A match that is no finding is read again from each start inside it; that
    /// is budgeted (eight times the text), so a text built of nested near-misses stays linear.
    fn next_match(
        &self,
        class: &Class,
        cache: &mut automaton::Cache,
        cursor: &mut Cursor,
        text: &str,
        at: usize,
    ) -> Option<Match> {
        let bytes = text.as_bytes();
        let from = at.max(cursor.from);
        match &cursor.source {
            Source::Regions(regions) => {
                while let Some(&(lo, to)) = regions.get(cursor.i) {
                    let mut here = from.max(lo);
                    let found = |m: regex_automata::Match, value| Match {
                        start: m.start(),
                        end: m.end(),
                        pid: class.members[m.pattern().as_usize()],
                        to,
                        anchor: None,
                        value,
                    };
                    // What is left of a region after a match is often too short for another.
                    if here + class.re.min_len() <= to {
                        // No match starts before the first place that can start one. A match
                        // found there, anchored, is the leftmost (and its start is known, with
                        // no search back for it); else the rest of the region is searched from
                        // the next such place.
                        if let Some(starts) = &class.starts {
                            let Some(p) = starts.next(bytes, here, to) else {
                                cursor.i += 1;
                                continue;
                            };
                            here = p;
                            let input = Input::new(bytes).range(here..to).anchored(Anchored::Yes);
                            if let Some((m, value)) = class.re.search(cache, &input) {
                                return Some(found(m, value));
                            }
                            let Some(p) = starts.next(bytes, here + 1, to) else {
                                cursor.i += 1;
                                continue;
                            };
                            here = p;
                        }
                        if here < to
                            && let Some((m, value)) =
                                class.re.search(cache, &Input::new(bytes).range(here..to))
                        {
                            return Some(found(m, value));
                        }
                    }
                    cursor.i += 1;
                }
                None
            }
            Source::Starts(starts) => {
                while let Some(&(start, anchor)) = starts.get(cursor.i) {
                    cursor.i += 1;
                    if start < from {
                        continue;
                    }
                    if start < cursor.refused_until {
                        match cursor.budget.checked_sub(cursor.refused_until - start) {
                            Some(b) => cursor.budget = b,
                            None => continue,
                        }
                    }
                    let input = Input::new(bytes).range(start..).anchored(Anchored::Yes);
                    if let Some((m, value)) = class.re.search(cache, &input) {
                        return Some(Match {
                            start,
                            end: m.end(),
                            pid: class.members[m.pattern().as_usize()],
                            to: bytes.len(),
                            anchor: Some(anchor),
                            value,
                        });
                    }
                }
                None
            }
        }
    }

    /// After match `m` was no finding: the first other detector of the class (of the same
    /// numeric kind) whose match anchored at the same start is one, with that match's end.
    fn retry(
        &self,
        class: &Class,
        (cache, retry_cache): (
            &mut automaton::Cache,
            Option<&mut regex_automata::meta::Cache>,
        ),
        text: &str,
        m: Match,
        scratch: &mut Scratch,
    ) -> Option<(usize, usize, usize, usize)> {
        let Match {
            pid,
            start,
            to,
            anchor,
            ..
        } = m;
        let numeric = self.traits[pid].numeric;
        let bytes = text.as_bytes();
        // The first of `ks` (in the class's order) other than `pid`, of its numeric kind, whose
        // match anchored here is a finding.
        let mut first = |ks: &mut dyn Iterator<Item = usize>, scratch: &mut Scratch| {
            for k in ks {
                let other = class.members[k];
                if other == pid || self.traits[other].numeric != numeric {
                    continue;
                }
                let input = Input::new(bytes)
                    .range(start..to)
                    .anchored(Anchored::Pattern(PatternID::new_unchecked(k)));
                let Some((m, value)) = class.re.search(&mut *cache, &input) else {
                    continue;
                };
                if let Some((s, e)) = self.accept(other, text, (m.start(), m.end()), value, scratch)
                {
                    return Some((s, e, other, m.end()));
                }
            }
            None
        };
        match (&class.retry, anchor) {
            (Retry::ByAnchor(starting), Some(a)) => {
                let ks = starting.get(a).map_or(&[][..], Vec::as_slice);
                first(&mut ks.iter().copied(), scratch)
            }
            (Retry::ByAnchor(_), None) => first(&mut (0..class.members.len()), scratch),
            (Retry::Overlapping(all), _) => {
                // Which patterns match here: one pass, into a set kept between retries.
                let n = class.re.pattern_len();
                let mut here = scratch
                    .here
                    .take()
                    .filter(|h| h.capacity() >= n)
                    .unwrap_or_else(|| regex_automata::PatternSet::new(n));
                here.clear();
                let input = Input::new(bytes).range(start..to).anchored(Anchored::Yes);
                match retry_cache {
                    Some(c) => all.which_overlapping_matches_with(c, &input, &mut here),
                    None => all.which_overlapping_matches(&input, &mut here),
                }
                let found = first(
                    &mut (0..n).filter(|&k| here.contains(PatternID::new_unchecked(k))),
                    scratch,
                );
                scratch.here = Some(here);
                found
            }
        }
    }

    /// Whether findings of `kind` are secrets (or custom types) rather than personal data.
    pub fn is_secret(&self, kind: &str) -> bool {
        self.detectors
            .iter()
            .zip(&self.traits)
            .any(|(d, t)| d.kind == kind && t.secret)
    }

    fn strategy_of(&self, kind: &str) -> Strategy {
        self.strategies.get(kind).copied().unwrap_or(self.default)
    }

    fn detector(&self, kind: &str) -> Option<&'static Detector> {
        self.detectors.iter().copied().find(|d| d.kind == kind)
    }

    /// What replaces one finding's value, written to `out` (no allocation: a 100 KB result
    /// holds hundreds of findings).
    fn replace(&self, out: &mut String, kind: &str, value: &str, merged: bool) {
        let strategy = match self.strategy_of(kind) {
            Strategy::Partial if merged => Strategy::TypeOnly,
            s => s,
        };
        let label = |out: &mut String| {
            out.extend(kind.chars().map(|c| c.to_ascii_uppercase()));
        };
        match strategy {
            Strategy::Full => out.push_str("[REDACTED]"),
            Strategy::TypeOnly => {
                out.push('[');
                label(out);
                out.push(']');
            }
            Strategy::Hash => {
                use std::fmt::Write;
                let d = hmac_sha256(&self.hash_key, value.as_bytes());
                out.push('[');
                label(out);
                // Writing to a `String` cannot fail.
                let _ = write!(out, ":{:02x}{:02x}{:02x}{:02x}]", d[0], d[1], d[2], d[3]);
            }
            Strategy::Partial => {
                let partial = self.detector(kind).map_or(Partial::Nothing, |d| d.partial);
                partial_mask(out, value, partial);
            }
        }
    }

    /// The findings in a JSON member's value, read with its key as context
    /// (`"db_password": "…"`, `"Authorization": "Basic …"`), as offsets into `value`.
    pub fn find_member(&self, key: &str, value: &str) -> Vec<Finding> {
        let prefix = format!("{}: \"", serde_json::Value::String(key.to_owned()));
        let text = format!("{prefix}{value}\"");
        let (lo, hi) = (prefix.len(), prefix.len() + value.len());
        self.find(&text)
            .into_iter()
            .filter(|f| f.end > lo && f.start < hi)
            .map(|mut f| {
                f.start = f.start.clamp(lo, hi) - lo;
                f.end = f.end.clamp(lo, hi) - lo;
                f
            })
            .filter(|f| f.start < f.end)
            .collect()
    }

    /// A JSON member's value masked with its key as context; `None` when nothing changes.
    pub fn mask_member(&self, key: &str, value: &str) -> Option<String> {
        let findings = self.find_member(key, value);
        (!findings.is_empty()).then(|| self.apply(value, &findings))
    }

    /// The masked text, or `None` when there is nothing to mask.
    pub fn mask(&self, text: &str) -> Option<String> {
        let findings = self.find(text);
        if findings.is_empty() {
            return None;
        }
        Some(self.apply(text, &findings))
    }

    /// `text` with `findings` masked.
    pub fn apply(&self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        // Counted here, a few types at most, then added to the shared counters once each.
        let mut tally: Vec<(&'static str, u64)> = Vec::new();
        for f in findings {
            match tally.iter_mut().find(|(k, _)| *k == f.kind) {
                Some((_, n)) => *n += 1,
                None => tally.push((f.kind, 1)),
            }
            out.push_str(&text[at..f.start]);
            self.replace(&mut out, f.kind, &text[f.start..f.end], f.merged);
            at = f.end;
        }
        out.push_str(&text[at..]);
        for (kind, n) in tally {
            if let Some((_, total)) = self.masked.iter().find(|(k, _)| *k == kind) {
                total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
        }
        out
    }
}

/// `partial` masking: keep the tail the type allows, star the rest (separators kept), written
/// to `out`.
fn partial_mask(out: &mut String, value: &str, partial: Partial) {
    match partial {
        Partial::Last4Digits => {
            let total = value.chars().filter(char::is_ascii_alphanumeric).count();
            let mut seen = 0;
            out.extend(value.chars().map(|c| {
                if c.is_ascii_alphanumeric() {
                    seen += 1;
                    if seen + 4 > total { c } else { '*' }
                } else {
                    c
                }
            }));
        }
        Partial::EmailDomain => match value.split_once('@') {
            Some((local, domain)) => {
                out.push(local.chars().next().unwrap_or('*'));
                out.push_str("***@");
                out.push_str(domain);
            }
            None => out.push_str("[REDACTED]"),
        },
        Partial::Prefix(n) => {
            out.extend(value.chars().take(n.min(value.len() / 3)));
            out.push_str("…[REDACTED]");
        }
        Partial::Nothing => out.push_str("[REDACTED]"),
    }
}

impl Scanner {
    /// What a model may read of `text`: masked, and cut to the length limit. A text that is a
    /// JSON object or array keeps its structure: every string in it is masked (keys kept), and
    /// long strings are cut instead of the document. `None` when nothing changes.
    pub fn clean(&self, text: &str) -> Option<String> {
        let t = text.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text)
        {
            let limit = self
                .max_chars
                .filter(|&m| text.chars().count() > m)
                .map(|m| (m / 8).max(16));
            let changed = self.clean_json(&mut v, limit);
            return changed.then(|| v.to_string());
        }
        let masked = self.mask(text);
        match self.max_chars {
            Some(m) => truncate(masked.as_deref().unwrap_or(text), m).or(masked),
            None => masked,
        }
    }
}

impl Scanner {
    /// Mask a JSON document in place, keys kept as context: every string and number value
    /// (read as `"key": value`), and keys themselves. Strings longer than `cut` are cut.
    /// Returns whether anything changed.
    pub fn clean_json(&self, v: &mut serde_json::Value, cut: Option<usize>) -> bool {
        use serde_json::Value;
        let mut changed = false;
        let mut stack: Vec<(Option<String>, &mut Value)> = vec![(None, v)];
        while let Some((key, v)) = stack.pop() {
            let scan = |text: &str| match &key {
                Some(k) => self.mask_member(k, text),
                None => self.mask(text),
            };
            match v {
                Value::String(s) => {
                    let mut new = scan(s);
                    if let Some(m) = cut
                        && let Some(c) = truncate(new.as_deref().unwrap_or(s), m)
                    {
                        new = Some(c);
                    }
                    if let Some(n) = new {
                        *s = n;
                        changed = true;
                    }
                }
                Value::Number(n) => {
                    if let Some(masked) = scan(&n.to_string()) {
                        *v = Value::String(masked);
                        changed = true;
                    }
                }
                Value::Array(a) => stack.extend(a.iter_mut().map(|x| (key.clone(), x))),
                Value::Object(o) => {
                    // Keys can carry data too (`{"ada@example.org": …}`).
                    // (Only keys that could hold a value: plain names are skipped, so the
                    // keys of a large document do not double the scanning.)
                    let renamed: Vec<(String, String)> = o
                        .keys()
                        .filter(|k| k.bytes().any(|b| b.is_ascii_digit() || b == b'@'))
                        .filter_map(|k| self.mask(k).map(|m| (k.clone(), m)))
                        .collect();
                    for (old, new) in renamed {
                        if let Some(x) = o.remove(&old) {
                            o.insert(new, x);
                            changed = true;
                        }
                    }
                    stack.extend(o.iter_mut().map(|(k, x)| (Some(k.clone()), x)));
                }
                _ => {}
            }
        }
        changed
    }
}

/// `text` cut to at most `max` characters (plus a notice), at a line end when one is within the
/// last fifth; `None` when it fits.
pub fn truncate(text: &str, max: usize) -> Option<String> {
    let total = text.chars().count();
    if total <= max {
        return None;
    }
    let mut end = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    if let Some(nl) = text[..end].rfind('\n')
        && text[..nl].chars().count() >= max - max / 5
    {
        end = nl + 1;
    }
    let shown = text[..end].chars().count();
    let mut out = String::with_capacity(end + 64);
    out.push_str(&text[..end]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "[… truncated by airlock: {shown} of {total} characters shown]"
    ));
    Some(out)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

impl ResultCleaner for Scanner {
    fn clean_text(&self, _cx: &CleanContext<'_>, text: &str) -> Result<Option<String>, CleanError> {
        Ok(self.clean(text))
    }

    fn clean_json(
        &self,
        _cx: &CleanContext<'_>,
        value: &mut serde_json::Value,
    ) -> Result<usize, CleanError> {
        Ok(usize::from(self.clean_json(value, None)))
    }

    fn masked(&self) -> Vec<(&'static str, u64)> {
        Scanner::masked(self)
    }
}

/// Scanners chosen by the caller's tenant: a tenant with rules of its own gets its scanner,
/// everyone else the base one (`None`: results of those callers are not scanned). Shared, as
/// the argument check may use the same scanners (each holds its warmed caches).
#[derive(Debug, Default)]
pub struct TenantScanners {
    /// For callers without a tenant of their own.
    pub base: Option<std::sync::Arc<Scanner>>,
    /// By tenant name.
    pub tenants: HashMap<String, Option<std::sync::Arc<Scanner>>>,
}

impl ResultCleaner for TenantScanners {
    fn clean_text(&self, cx: &CleanContext<'_>, text: &str) -> Result<Option<String>, CleanError> {
        let scanner = match cx
            .caller
            .tenant
            .as_deref()
            .and_then(|t| self.tenants.get(t))
        {
            Some(s) => s.as_ref(),
            None => self.base.as_ref(),
        };
        Ok(scanner.and_then(|s| s.clean(text)))
    }

    fn clean_json(
        &self,
        _cx: &CleanContext<'_>,
        value: &mut serde_json::Value,
    ) -> Result<usize, CleanError> {
        let scanner = match _cx
            .caller
            .tenant
            .as_deref()
            .and_then(|t| self.tenants.get(t))
        {
            Some(s) => s.as_ref(),
            None => self.base.as_ref(),
        };
        Ok(scanner.map_or(0, |s| usize::from(s.clean_json(value, None))))
    }

    fn masked(&self) -> Vec<(&'static str, u64)> {
        let mut all: Vec<(&'static str, u64)> = Vec::new();
        for s in self.base.iter().chain(self.tenants.values().flatten()) {
            for (kind, n) in s.masked() {
                match all.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, total)) => *total += n,
                    None => all.push((kind, n)),
                }
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `in_order` gives the stable sort's order: on nearly sorted findings (as they come), on
    /// findings in any order (past the budget of swaps), with many of the same place.
    #[test]
    fn findings_are_put_in_the_stable_sorts_order() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as usize
        };
        for round in 0..2_000 {
            let len = next(300);
            let mut raw: Vec<(usize, usize, usize)> = (0..len)
                .map(|i| {
                    let start = if round % 2 == 0 {
                        i * 4 + next(3)
                    } else {
                        next(40)
                    };
                    (start, start + next(6), i)
                })
                .collect();
            // Now and then one in the wrong place, as a longer finding found second.
            for _ in 0..next(8) {
                if len > 1 {
                    let k = next(len as u64 - 1);
                    raw.swap(k, k + 1);
                }
            }
            let mut want = raw.clone();
            want.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
            in_order(&mut raw);
            assert_eq!(raw, want, "round {round}");
        }
    }

    fn kinds(s: &Scanner, text: &str) -> Vec<&'static str> {
        s.find(text).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn builds_with_every_detector() {
        let s = Scanner::builder().build().unwrap();
        assert!(s.kinds().len() >= 35, "{}", s.kinds().len());
    }

    #[test]
    fn finds_each_type() {
        let s = Scanner::builder().build().unwrap();
        let cases: &[(&str, &str)] = &[
            ("contact ada.lovelace@example.org today", "email"),
            ("call +1 202-555-0147 now", "phone"),
            ("call (202) 555-0147 now", "phone"),
            ("ring +44 20 7946 0958", "phone"),
            ("ring 07700 900123", "phone"),
            ("ruf +49 30 1234567 an", "phone"),
            ("mobile +91 98765 43210", "phone"),
            ("reach +33 1 42 68 53 00 today", "phone"),
            ("ssn 123-45-6789", "us_ssn"),
            ("card 4111 1111 1111 1111 ok", "credit_card"),
            ("amex 3782-822463-10005", "credit_card"),
            ("host 192.168.10.20 up", "ipv4"),
            ("host 2001:db8::8a2e:370:7334 up", "ipv6"),
            ("iban DE89 3704 0044 0532 0130 00", "iban"),
            ("iban GB82WEST12345698765432.", "iban"),
            ("Passport No: X1234567", "passport_number"),
            ("aadhaar 2363 4201 2341", "aadhaar"),
            ("PAN ABCPE1234F", "pan_india"),
            ("pay ramesh@okaxis", "upi_id"),
            ("IFSC HDFC0001234", "ifsc"),
            ("key AKIAZ3MXQ4RLT7P2WD5K here", "aws_access_key_id"),
            (
                "aws_secret_access_key = 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",
                "aws_secret_access_key",
            ),
            (
                "token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "github_token",
            ),
            ("glpat-x7Yq2Lm9Pk4Rt6Wz8Nv3", "gitlab_token"),
            (
                "xoxb-2345678901-2345678901234-AbCdEfGhIjKlMnOpQrStUvWx",
                "slack_token",
            ),
            ("sk_live_51Hx2Ly9Qz8Pw7Rv6Tu5", "stripe_key"),
            ("AIzaSyD3x7Yq2Lm9Pk4Rt6Wz8Nv3Bc5Df7Gh9Jk", "google_api_key"),
            (
                "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH12",
                "huggingface_token",
            ),
            ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_token"),
            (
                "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                "sendgrid_key",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dGhpc2lzYXNpZ25hdHVyZQ",
                "jwt",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----",
                "private_key",
            ),
            ("DB_PASSWORD=hunter2Qx9", "password_assignment"),
            ("\"password\": \"s3cr3tV4lue\"", "password_assignment"),
            ("mysql -u root --password=Tr0ub4dor", "password_argument"),
            (
                "postgres://app:Zq8vLm2@db.internal:5432/app",
                "connection_string",
            ),
            (
                "Authorization: Bearer abcdef0123456789ABCDEF",
                "bearer_token",
            ),
            (
                "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
                "basic_auth",
            ),
            (
                "signing_key: 9fQ2xL7pR4tZ8vB1nM6cK3wJ5hG0dS2a",
                "high_entropy_secret",
            ),
        ];
        for (text, kind) in cases {
            assert_eq!(kinds(&s, text), [*kind], "{text}");
        }
    }

    #[test]
    fn hard_negatives_stay_clean() {
        let s = Scanner::builder().build().unwrap();
        for text in [
            "card 4111 1111 1111 1112 fails Luhn",
            "aadhaar 2363 4201 2346 fails Verhoeff",
            "id 550e8400-e29b-41d4-a716-446655440000",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "version 1.2.3 and v10.0.0.1-beta",
            "at 2024-05-01T12:30:45Z and 1714566645",
            "ISBN 978-3-16-148410-0",
            "password=${DB_PASSWORD}",
            "api_key: <your-api-key>",
            "password = ********",
            "AKIAIOSFODNN7EXAMPLE",
            "ssn 000-12-3456",
            "iban DE89 3704 0044 0532 0130 01",
            "order 12345678",
        ] {
            assert_eq!(s.find(text), [], "{text}");
        }
    }

    #[test]
    fn masking_strategies_and_merging() {
        let s = Scanner::builder()
            .strategy("credit_card", Strategy::Partial)
            .strategy("email", Strategy::Hash)
            .hash_key(b"0123456789abcdef")
            .build()
            .unwrap();
        let m = s.mask("card 4111-1111-1111-1111").unwrap();
        assert_eq!(m, "card ****-****-****-1111");
        let a = s.mask("ada@example.org").unwrap();
        assert_eq!(a, s.mask("ada@example.org").unwrap(), "hashes are stable");
        assert_ne!(a, s.mask("bob@example.org").unwrap());
        assert!(a.starts_with("[EMAIL:"));
        let t = Scanner::builder().build().unwrap();
        assert_eq!(t.mask("ssn 123-45-6789.").unwrap(), "ssn [US_SSN].");
        assert_eq!(t.mask("nothing here"), None);
        // The company's own domain is allowed.
        let own = Scanner::builder().allow("*@mycompany.com").build().unwrap();
        assert_eq!(own.find("mail bob@mycompany.com"), []);
    }

    #[test]
    fn masked_values_are_counted_by_type() {
        let s = Scanner::builder().build().unwrap();
        assert_eq!(s.masked(), []);
        s.mask("ada@example.org, bob@example.org, card 4111 1111 1111 1111")
            .unwrap();
        s.mask("eve@example.org").unwrap();
        let mut counted = s.masked();
        counted.sort();
        assert_eq!(counted, [("credit_card", 1), ("email", 3)]);
    }

    #[test]
    fn truncation_cuts_at_a_line_and_json_keeps_its_shape() {
        let s = Scanner::builder().max_chars(100).build().unwrap();
        let text: String = (0..20)
            .map(|i| format!("line {i:02} of the log\n"))
            .collect();
        let cut = s.clean(&text).unwrap();
        let (body, notice) = cut.rsplit_once('\n').unwrap();
        assert!(body.lines().all(|l| l.starts_with("line ")), "{cut}");
        assert!(body.len() <= 100 && body.len() >= 80, "{}", body.len());
        assert!(notice.contains("95 of 380 characters shown"), "{notice}");
        assert_eq!(s.clean("short"), None);

        let json = serde_json::json!({"rows": [{"email": "ada@example.org", "bio": "x".repeat(300)}], "n": 1}).to_string();
        let cleaned: serde_json::Value = serde_json::from_str(&s.clean(&json).unwrap()).unwrap();
        assert_eq!(cleaned["rows"][0]["email"], "[EMAIL]");
        assert_eq!(cleaned["n"], 1);
        assert!(
            cleaned["rows"][0]["bio"]
                .as_str()
                .unwrap()
                .contains("truncated")
        );
        // Token limits are four characters a token.
        let t = Scanner::builder().max_tokens(10).build().unwrap();
        assert!(
            t.clean(&"y".repeat(60))
                .unwrap()
                .starts_with(&"y".repeat(40))
        );
    }

    #[test]
    fn custom_detectors_and_tenants() {
        let s = Scanner::builder()
            .custom("employee_id", "EMP-[0-9]{6}")
            .unwrap()
            .strategy("employee_id", Strategy::Full)
            .build()
            .unwrap();
        assert_eq!(
            s.mask("by EMP-123456 today").unwrap(),
            "by [REDACTED] today"
        );
        assert!(Scanner::builder().custom("email", "x").is_err());
        assert!(Scanner::builder().custom("bad name", "x").is_err());
        assert!(Scanner::builder().custom("ok", "(").is_err());

        let t = TenantScanners {
            base: Some(std::sync::Arc::new(Scanner::builder().build().unwrap())),
            tenants: [(
                "acme".to_owned(),
                Some(std::sync::Arc::new(
                    Scanner::builder().allow("*@acme.example").build().unwrap(),
                )),
            )]
            .into_iter()
            .collect(),
        };
        let acme = airlock_core::CallerContext {
            tenant: Some("acme".into()),
            ..Default::default()
        };
        let other = airlock_core::CallerContext::default();
        let cx = |caller| CleanContext {
            tool: "t",
            caller,
            kind: airlock_core::TextKind::Content,
        };
        assert_eq!(t.clean_text(&cx(&acme), "bob@acme.example").unwrap(), None);
        assert_eq!(
            t.clean_text(&cx(&other), "bob@acme.example")
                .unwrap()
                .as_deref(),
            Some("[EMAIL]")
        );
    }

    /// Each strategy's replacement, whole: written straight into the output, they must read as
    /// the strings they were built as before.
    #[test]
    fn each_strategy_writes_its_whole_replacement() {
        let token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let partial = Scanner::builder()
            .default_strategy(Strategy::Partial)
            .build()
            .unwrap();
        assert_eq!(
            partial.mask("mail ada.lovelace@example.org now").unwrap(),
            "mail a***@example.org now"
        );
        assert_eq!(
            partial.mask(&format!("token {token}.")).unwrap(),
            "token ghp_…[REDACTED]."
        );
        assert_eq!(
            partial.mask("ssn 123-45-6789.").unwrap(),
            "ssn ***-**-6789."
        );
        let full = Scanner::builder()
            .default_strategy(Strategy::Full)
            .build()
            .unwrap();
        assert_eq!(full.mask("ssn 123-45-6789.").unwrap(), "ssn [REDACTED].");
        let key = b"0123456789abcdef";
        let hash = Scanner::builder()
            .default_strategy(Strategy::Hash)
            .hash_key(key)
            .build()
            .unwrap();
        let d = hmac_sha256(key, b"123-45-6789");
        assert_eq!(
            hash.mask("ssn 123-45-6789.").unwrap(),
            format!(
                "ssn [US_SSN:{:02x}{:02x}{:02x}{:02x}].",
                d[0], d[1], d[2], d[3]
            )
        );
    }

    #[test]
    fn review_regressions() {
        let s = Scanner::builder().build().unwrap();
        // JSON: keys are context, numbers and keys are scanned.
        let json = r#"{"db_password":"Zq8vLm2Pk4","card":4111111111111111,"ada@example.org":1,"aws_secret_access_key":"wJalrXUtnFEMIK7MDENGbPxRfiCYzQ8vLm2Pk4Rt","h":{"Authorization":"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}}"#;
        let cleaned = s.clean(json).unwrap();
        for leaked in [
            "Zq8vLm2Pk4",
            "4111111111111111",
            "ada@example.org",
            "wJalrXUtn",
            "YWxhZGRp",
        ] {
            assert!(!cleaned.contains(leaked), "{leaked} in {cleaned}");
        }
        // A secret merged with personal data is named and masked as the secret.
        let p = Scanner::builder()
            .strategy("email", Strategy::Partial)
            .build()
            .unwrap();
        let m = p
            .mask("password=ada@x.io/ghp_16C7e42F292c6912E7710c838347Ae178B4a")
            .unwrap();
        assert!(!m.contains("ghp_16C7") && !m.contains("x.io/"), "{m}");
        // A greedy number that swallowed its neighbour is tried shorter.
        assert_eq!(
            s.mask("4111111111111111 12/27").unwrap(),
            "[CREDIT_CARD] 12/27"
        );
        // Real passwords that contain template words are still passwords.
        assert!(s.mask("DB_PASSWORD=MySecret2024").is_some());
        assert!(s.mask("password=Password123!").is_some());
        // A key block cut off is masked to the end.
        assert_eq!(
            s.mask("x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow")
                .unwrap(),
            "x\n[PRIVATE_KEY]"
        );
        // Other detector gaps.
        assert!(
            s.mask("redis://:p4ss@10.0.0.5")
                .unwrap()
                .contains("[CONNECTION_STRING]")
        );
        assert!(
            s.mask(r#""Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l""#)
                .is_some()
        );
        assert!(
            s.mask("X-Api-Key: 9f86d081884c7d659a2feaa0c55ad015")
                .is_some()
        );
        // Runs of assignments or dotted numbers are scanned in linear time (bounded context
        // and values); a quadratic scan would not finish here.
        assert!(!s.find(&"pwd=".repeat(50_000)).is_empty());
        assert_eq!(s.find(&"1.".repeat(50_000)), []);
    }

    #[test]
    fn unknown_types_are_build_errors() {
        assert!(Scanner::builder().disable("emial").build().is_err());
    }

    #[test]
    fn look_alike_spellings_are_found_and_masked_in_the_original() {
        let s = Scanner::builder().build().unwrap();
        for (text, kind, value) in [
            (
                "pay ４１１１ １１１１ １１１１ １１１１ now",
                "credit_card",
                "４１１１ １１１１ １１１１ １１１１",
            ),
            (
                "card 4111.1111.1111.1111 on file",
                "credit_card",
                "4111.1111.1111.1111",
            ),
            (
                "zw 4111\u{200b}1111\u{200b}1111\u{200b}1111 end",
                "credit_card",
                "4111\u{200b}1111\u{200b}1111\u{200b}1111",
            ),
            (
                "mail jane.doe＠corp-mail.net please",
                "email",
                "jane.doe＠corp-mail.net",
            ),
            (
                "key AKIA\u{ad}QYLPMN5HHHFPZAM2 here",
                "aws_access_key_id",
                "AKIA\u{ad}QYLPMN5HHHFPZAM2",
            ),
            (
                "ssn\u{a0}078\u{2011}05\u{2011}1120.",
                "us_ssn",
                "078\u{2011}05\u{2011}1120",
            ),
        ] {
            let found = s.find(text);
            assert_eq!(found.len(), 1, "{text:?}: {found:?}");
            assert_eq!(found[0].kind, kind, "{text:?}");
            assert_eq!(&text[found[0].start..found[0].end], value, "{text:?}");
            let masked = s.mask(text).unwrap();
            assert!(!masked.contains(value), "{masked}");
        }
    }

    #[test]
    fn things_that_only_look_like_findings() {
        let s = Scanner::builder().build().unwrap();
        for text in [
            "DB_PASSWORD=${DB_PASSWORD}",
            "export API_KEY=$API_KEY",
            "password=$env:DB_PASS",
            "deploy@web-01.prod.example.com:~$ ls -la",
            "root@build.example.org:/var/log# tail syslog",
            "version 2.4.1.0 released",
            "User-Agent: Foo/1.2.3.4",
            "arn:aws:iam::123456789012:role/deploy",
            "\"AccountId\": \"210987654321\"",
            "secret_key_hash: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "auth_token_sha256 = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert_eq!(s.find(text), [], "{text:?}");
        }
        // The same values in their own context are still found.
        for text in [
            "mail deploy@web-01.prod.example.com today",
            "host 10.2.4.1 is down",
            "uid 2345 6789 0123",
            "secret_key: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            let kinds: Vec<_> = s.find(text).iter().map(|f| f.kind).collect();
            assert!(!kinds.is_empty() || text.starts_with("uid"), "{text:?}");
        }
    }

    #[test]
    fn phone_numbers_name_their_country() {
        let s = Scanner::builder().build().unwrap();
        let text = "call +1 202-555-0147, +33 1 42 68 53 00, 0049 30 1234567, +353 1 234 5678 or 07700 900123";
        let details: Vec<_> = s.find(text).iter().map(|f| (f.kind, f.detail)).collect();
        assert_eq!(
            details,
            [
                ("phone", Some("us")),
                ("phone", Some("fr")),
                ("phone", Some("de")),
                ("phone", Some("ie")),
                ("phone", Some("gb")),
            ]
        );
    }

    /// Where a group engine under test starts a match's value group, if it answers.
    type GroupEngine = Box<dyn FnMut(&[u8], std::ops::Range<usize>) -> Option<usize>>;

    /// Every match of each detector with a value group, on varied text from `seed` and
    /// near-misses, held to the PikeVM (which gives the backtracker's answer) wherever the
    /// engine `engine` makes for the detector answers; how many it answered.
    fn groups_agree(
        seed: u64,
        mut engine: impl FnMut(&'static Detector) -> Option<GroupEngine>,
    ) -> usize {
        let mut text = bench_text::worst_case(150_000, seed);
        text.push_str(&bench_text::diverse(300_000, seed));
        text.push_str(
            "password := x\npassword=\"a=b=c\"\nAPI_KEY=>  'sk=abc=def'\napi-key:  ==>xyz==\n\
             password =  \t 'abcd'\npasswd\t=\t\"  spaced\"\n\
             Authorization: Basic dXNlcjpwYXNz\nBearer   abc.def-ghi_jkl~mno+pqr/stu==\n",
        );
        let bytes = text.as_bytes();
        let mut decided = 0;
        for d in DETECTORS.iter().filter(|d| d.group > 0) {
            let Some(mut start) = engine(d) else {
                continue;
            };
            let g = Groups::new(d.pattern, d.group).unwrap();
            let mut work = g.work();
            let re = regex_automata::meta::Regex::builder()
                .syntax(syntax())
                .build(d.pattern)
                .unwrap();
            for m in re.find_iter(bytes) {
                let Some(at) = start(bytes, m.range()) else {
                    continue;
                };
                let input = Input::new(bytes)
                    .span(m.start()..m.end())
                    .anchored(Anchored::Yes);
                g.pikevm.search(&mut work.pike, &input, &mut work.caps);
                let want = work.caps.get_group(d.group).map(|s| s.start);
                assert_eq!(Some(at), want, "{}: {:?}", d.kind, &text[m.range()]);
                decided += 1;
            }
        }
        decided
    }

    /// The value group the automaton reports for a pattern whose open run is that group is the
    /// PikeVM's, and the automaton's match the pattern's.
    #[test]
    fn run_groups_agree_with_the_pikevm() {
        let decided = groups_agree(6, |d| {
            let hirs = parse(&[d.pattern]).unwrap();
            let automaton = automaton::Automaton::new(&hirs, false, 1 << 20).unwrap();
            let mut cache = automaton.create_cache();
            Some(Box::new(move |bytes: &[u8], m: std::ops::Range<usize>| {
                let input = Input::new(bytes).range(m.start..).anchored(Anchored::Yes);
                let (found, value) = automaton.search(&mut cache, &input).unwrap();
                assert_eq!(found.range(), m, "{}", d.kind);
                let (group, at) = value?;
                assert_eq!(group, d.group, "{}", d.kind);
                Some(at)
            }))
        });
        assert!(decided > 1000, "{decided}");
    }

    /// The two-DFA group search agrees with the PikeVM wherever it answers, and answers for
    /// most matches of the detectors whose value ends their pattern.
    #[test]
    fn tail_groups_agree_with_the_pikevm() {
        let decided = groups_agree(5, |d| {
            let tail = automaton::TailGroup::new(d.pattern, d.group)?;
            let mut cache = tail.create_cache();
            Some(Box::new(move |bytes: &[u8], m: std::ops::Range<usize>| {
                tail.start(&mut cache, bytes, m.start, m.end)
            }))
        });
        assert!(decided > 1000, "{decided}");
    }
}
