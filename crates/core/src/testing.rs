//! Test support shared by core's unit tests: running the store-seam futures
//! of the operations on the host, without an async runtime.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future to completion. The operations' futures only wait on the
/// fakes of `crate::store`'s traits, which are ready at once, so polling in
/// a loop with a no-op waker finishes them.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
