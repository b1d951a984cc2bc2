//! Many checks, a few at a time: a fixed pool of workers that each take the next item when
//! they are free. Nothing is made per item before its turn (a task spawned per item, even
//! one waiting on a semaphore, costs memory for every item at once: a GCS listing a million
//! nodes made a million tasks), and with `start_by` an item whose turn comes too late is
//! left unchecked rather than stretching the run past its deadline.
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

/// What became of one item.
#[derive(Debug)]
pub enum Outcome<R> {
    Done(R),
    /// Its turn came after `start_by`: never started.
    NotStarted,
    /// Started, but not done by `end_by` (or its check panicked).
    Unfinished,
}

enum Slot<R> {
    Pending,
    Started,
    Done(R),
}

/// Run `check(items, i)` for every index, at most `workers` at once, in a fixed pool of
/// `workers` tasks. A worker takes no new item once `start_by` has passed; a check still
/// running at `end_by` is dropped. Outcomes come back in the order of `items`.
pub async fn run<T, R, F, Fut>(
    items: Arc<[T]>,
    workers: usize,
    start_by: Option<Instant>,
    end_by: Option<Instant>,
    check: F,
) -> Vec<Outcome<R>>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(Arc<[T]>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let n = items.len();
    let slots: Arc<Mutex<Vec<Slot<R>>>> =
        Arc::new(Mutex::new((0..n).map(|_| Slot::Pending).collect()));
    let next = Arc::new(AtomicUsize::new(0));
    let check = Arc::new(check);
    let mut pool = JoinSet::new();
    for _ in 0..workers.clamp(1, n.max(1)) {
        let (items, slots, next, check) =
            (items.clone(), slots.clone(), next.clone(), check.clone());
        pool.spawn(async move {
            loop {
                if start_by.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                set(&slots, i, Slot::Started);
                let fut = check(items.clone(), i);
                let done = match end_by {
                    Some(t) => timeout_at(t, fut).await.ok(),
                    None => Some(fut.await),
                };
                match done {
                    Some(r) => set(&slots, i, Slot::Done(r)),
                    // Past the end: the rest of this worker's turns would not start either.
                    None => return,
                }
            }
        });
    }
    // A worker that panicked leaves its item Started: reported as Unfinished below.
    while pool.join_next().await.is_some() {}
    let slots = std::mem::take(&mut *slots.lock().unwrap_or_else(PoisonError::into_inner));
    slots
        .into_iter()
        .map(|s| match s {
            Slot::Pending => Outcome::NotStarted,
            Slot::Started => Outcome::Unfinished,
            Slot::Done(r) => Outcome::Done(r),
        })
        .collect()
}

fn set<R>(slots: &Mutex<Vec<Slot<R>>>, i: usize, s: Slot<R>) {
    // A worker panics only in a check, never while holding the lock; recover all the same.
    let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = slots.get_mut(i) {
        *slot = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // No timed assertions: deadlines already passed, or checks that never end.
    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn every_item_in_order_never_more_than_the_workers_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let items: Arc<[u32]> = (0..100).collect::<Vec<_>>().into();
        let out = rt().block_on(run(items, 7, None, None, move |items, i| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                r.fetch_sub(1, Ordering::SeqCst);
                items[i] * 2
            }
        }));
        let got: Vec<u32> = out
            .into_iter()
            .map(|o| match o {
                Outcome::Done(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!((2..=7).contains(&most), "{most}");
    }

    #[test]
    fn nothing_starts_once_start_by_has_passed() {
        let rt = rt();
        let items: Arc<[u32]> = vec![0; 50].into();
        let out =
            rt.block_on(async { run(items, 5, Some(Instant::now()), None, |_, _| async {}).await });
        assert_eq!(out.len(), 50);
        assert!(out.iter().all(|o| matches!(o, Outcome::NotStarted)));
    }

    #[test]
    fn checks_running_at_end_by_are_unfinished_and_the_rest_not_started() {
        let rt = rt();
        let items: Arc<[u32]> = vec![0; 10].into();
        let out = rt.block_on(async {
            run(items, 3, None, Some(Instant::now()), |_, _| {
                std::future::pending::<()>()
            })
            .await
        });
        let unfinished = out
            .iter()
            .filter(|o| matches!(o, Outcome::Unfinished))
            .count();
        let not_started = out
            .iter()
            .filter(|o| matches!(o, Outcome::NotStarted))
            .count();
        assert_eq!((unfinished, not_started), (3, 7));
    }

    #[test]
    fn no_items_no_work() {
        let out = rt().block_on(run(
            Arc::from(Vec::<u8>::new()),
            4,
            None,
            None,
            |_, _| async {},
        ));
        assert!(out.is_empty());
    }
}
