//! One stable sort for the whole core.
//!
//! Why not `slice::sort`: the standard library's sort is generic over the
//! element type and the comparison, so every call site on a different type
//! links its own copy of the sorting code (~3.5 KiB of wasm each; there were
//! six in the Worker, BENCHMARKS.md "Bundle size"). Here the sorting is done
//! once, on indices, through a `dyn` comparison; each caller only adds the
//! small generic [`permute`] step. The result is the same as `sort_by`:
//! stable, equal elements keep their order.

use std::cmp::Ordering;

/// Sorts `items` stably with `cmp`, like `slice::sort_by`.
pub fn sort_by<T>(items: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if items.len() < 2 {
        return;
    }
    let order = {
        let items = &*items;
        indices(items.len(), &mut |a, b| cmp(&items[a], &items[b]))
    };
    permute(items, order);
}

/// Sorts `items` in ascending order, like `slice::sort`.
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// `0..n` sorted stably by `cmp` on the indices: the one instantiation of
/// the standard library's sort.
fn indices(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Moves the element at `order[i]` to position `i`, following each cycle
/// of the permutation once (linear time, no copies of `T`). `order` is
/// used up as the record of the positions already placed.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    for start in 0..items.len() {
        let mut at = start;
        while order[at] != DONE {
            let from = order[at];
            order[at] = DONE;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let mut items: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed % 7) as u8, i)
                })
                .collect();
            let mut expected = items.clone();
            // Stability: compare on the key only; the index shows the order kept.
            expected.sort_by_key(|p| p.0);
            sort_by(&mut items, |a, b| a.0.cmp(&b.0));
            assert_eq!(items, expected, "length {len}");
        }
    }

    #[test]
    fn sorts_strings_and_reverse_orders() {
        let mut names = vec!["b".to_string(), "a".into(), "c".into(), "a".into()];
        sort(&mut names);
        assert_eq!(names, ["a", "a", "b", "c"]);
        let mut numbers: Vec<i32> = (0..50).collect();
        sort_by(&mut numbers, |a, b| b.cmp(a));
        assert_eq!(numbers, (0..50).rev().collect::<Vec<_>>());
    }
}
