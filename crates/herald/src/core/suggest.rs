//! The nearest of some names to a name that is not one of them, for "did you mean"
//! suggestions (an unknown key, filter or test).

/// The candidate closest to `name` by edit distance, if it is close enough to be what was
/// meant: at most 1 edit for names of up to 4 characters, 2 up to 8, then a third.
pub fn nearest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let length = name.chars().count();
    let limit = match length {
        0..=4 => 1,
        5..=8 => 2,
        _ => length / 3,
    };
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance in characters: insertions, deletions and substitutions.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_edits() {
        assert_eq!(distance("secret", "secrets"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("é", "e"), 1);
    }

    #[test]
    fn the_nearest_close_name_is_suggested() {
        let keys = ["secrets", "kind", "max_body", "event_type"];
        assert_eq!(nearest("secret", keys), Some("secrets"));
        assert_eq!(nearest("evnt_type", keys), Some("event_type"));
        assert_eq!(nearest("colour", keys), None);
        assert_eq!(nearest("kind", keys), None, "not itself");
        assert_eq!(
            nearest("short_sah", ["short_sha", "truncate"]),
            Some("short_sha")
        );
    }
}
