//! Work on scoped threads, with the results in order.

/// Threads for `--threads 0`: one per CPU, at most 8.
pub fn per_cpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// `f(i, item)` for every item, each on a thread of its own except the
/// first, which runs on this one; the results in the items' order. A panic
/// on another thread goes on on this one.
pub fn each_on_a_thread<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(usize, T) -> R + Sync,
) -> Vec<R> {
    let mut items = items.into_iter().enumerate();
    let Some((_, first)) = items.next() else {
        return Vec::new();
    };
    std::thread::scope(|s| {
        let f = &f;
        let others: Vec<_> = items.map(|(i, t)| s.spawn(move || f(i, t))).collect();
        let mut out = Vec::with_capacity(others.len() + 1);
        out.push(f(0, first));
        for h in others {
            out.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

/// Client hosts judged per round of this many on each thread.
/// Client hosts judged in one run on one thread.
pub const HOSTS_PER_CHUNK: usize = 2048;

/// Maps runs of `items` with `f` on up to `threads` threads, a round of
/// one run per thread at a time, and hands the results to `out` in the
/// items' order: the output is the same with any number of threads, and
/// at most a round's results are held at once.
pub fn in_rounds<T: Sync, R: Send, E>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
    mut out: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads.max(1);
    for round in items.chunks(HOSTS_PER_CHUNK * threads) {
        let runs: Vec<&[T]> = round.chunks(HOSTS_PER_CHUNK).collect();
        for r in each_on_a_thread(runs, |_, run| f(run)) {
            out(r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_order_from_many_threads() {
        let out = each_on_a_thread((0..16u64).collect(), |i, x| {
            // Later items finish first.
            std::thread::sleep(std::time::Duration::from_millis(16 - x));
            (i, x * x, std::thread::current().id())
        });
        assert_eq!(
            out.iter().map(|(i, sq, _)| (*i, *sq)).collect::<Vec<_>>(),
            (0..16u64).map(|x| (x as usize, x * x)).collect::<Vec<_>>()
        );
        assert_eq!(out[0].2, std::thread::current().id());
        assert_ne!(out[1].2, std::thread::current().id());
        assert!(each_on_a_thread(Vec::<u8>::new(), |_, x| x).is_empty());
    }
}
