//! RFC 5321 §5.1 ordering of MX records, kept pure so it can be tested with a
//! seeded random generator.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::SliceRandom;

/// Sorts `(preference, exchange)` pairs by ascending preference, in random
/// order among equal preferences (RFC 5321 §5.1: "the sender-SMTP MUST
/// randomize them to spread the load"), and drops repeated exchanges,
/// keeping the most preferred occurrence so a host is never tried twice.
///
/// Shuffling first and then sorting stably gives every permutation within a
/// preference group the same chance.
pub(super) fn by_preference<R: Rng + ?Sized>(
    mut records: Vec<(u16, String)>,
    rng: &mut R,
) -> Vec<(u16, String)> {
    records.shuffle(rng);
    records.sort_by_key(|(preference, _)| *preference);
    let mut seen = HashSet::new();
    records.retain(|(_, exchange)| seen.insert(exchange.clone()));
    records
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn records(list: &[(u16, &str)]) -> Vec<(u16, String)> {
        list.iter().map(|&(p, h)| (p, h.to_owned())).collect()
    }

    #[test]
    fn sorted_by_preference_and_deduplicated() {
        let mut rng = StdRng::seed_from_u64(7);
        let ordered = by_preference(
            records(&[(30, "c"), (10, "a"), (20, "b"), (40, "a")]),
            &mut rng,
        );
        assert_eq!(ordered, records(&[(10, "a"), (20, "b"), (30, "c")]));
    }

    #[test]
    fn equal_preferences_are_shuffled_within_their_group_only() {
        let input = records(&[(5, "first"), (10, "x"), (10, "y"), (10, "z"), (20, "last")]);
        let mut leaders = HashSet::new();
        for seed in 0..64 {
            let ordered = by_preference(input.clone(), &mut StdRng::seed_from_u64(seed));
            assert_eq!(ordered.len(), 5);
            assert_eq!(ordered[0].1, "first");
            assert_eq!(ordered[4].1, "last");
            let middle: HashSet<&str> = ordered[1..4].iter().map(|(_, h)| h.as_str()).collect();
            assert_eq!(middle, HashSet::from(["x", "y", "z"]));
            leaders.insert(ordered[1].1.clone());
        }
        // 64 seeded shuffles of three hosts put each of them first at least once.
        assert_eq!(leaders.len(), 3, "{leaders:?}");
    }
}
