//! "Did you mean …?": the closest known name to a misspelt one.
//!
//! Used for ghost arguments (`recurse` → `recursive`), unknown tools, enum values, unknown config
//! keys and values, and role and capability names in policies.
//! Names that differ only in case, `_` or `-` match first (`filePath` → `file_path`); otherwise
//! the nearest by Damerau–Levenshtein distance within a third of the name's length.

/// The candidate closest to `name`, if one is near enough to be a likely typo.
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let folded = fold(name);
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        if fold(cand) == folded {
            return Some(cand);
        }
        let d = strsim::damerau_levenshtein(&name.to_lowercase(), &cand.to_lowercase());
        let limit = (name.chars().count().max(cand.chars().count()) / 3).max(1);
        let prefix_bonus = cand.starts_with(name) || name.starts_with(cand);
        if d <= limit || (prefix_bonus && name.len() >= 4) {
            let score = if prefix_bonus { d.saturating_sub(1) } else { d };
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, cand));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// A name as a reader sees it: letter case, `_` and `-` left out (`read_file`, `readFile` and
/// `read-file` are one name).
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_likely_typos_only() {
        let names = ["path", "recursive", "max_depth", "file_path"];
        let cases = [
            ("recurse", Some("recursive")),
            ("filePath", Some("file_path")),
            ("maxdepth", Some("max_depth")),
            ("pth", Some("path")),
            ("colour", None),
            ("x", None),
        ];
        for (name, want) in cases {
            assert_eq!(closest(name, names.iter().copied()), want, "{name}");
        }
    }
}
