//! Per-thread recycling of tensor storage and layouts: the memory half of the autodiff tape.
//!
//! A training step makes the same tensors, of the same sizes, step after step: every op's
//! output buffer, the shared handle around it, and the layout of each view. When the last
//! handle to a host buffer (or a layout) is dropped, it comes here instead of going back to
//! the allocator, and the next buffer of exactly that length (or the next layout) is taken
//! from here. So from the second step on, a step's outputs and gradients reuse the buffers of
//! the step before (big ones without fresh pages to fault in and zero), and the heap sees only
//! the autodiff nodes (`tests/allocations.rs` counts them).
//!
//! The pool is bounded ([`MAX_HELD_BYTES`] of values per thread, a few hundred handles) and
//! holds nothing a program can observe: recycled buffers are cleared or fully overwritten
//! before they are handed out. [`release`] empties it.

use super::Buffer;
use crate::layout::Layout;
use std::cell::RefCell;
use std::rc::Rc;

/// A storage allocation: the shared handle around a buffer.
pub(super) type Shell = Rc<RefCell<Buffer>>;

/// Values (in bytes) the pool keeps per thread, over all sizes.
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// Buffers kept per length.
const MAX_PER_SIZE: usize = 64;
/// Distinct lengths kept.
const MAX_SIZES: usize = 64;
/// Empty handles (their buffer handed out) and layouts kept.
const MAX_HANDLES: usize = 512;

#[derive(Default)]
struct Pool {
    /// Unshared handles holding a host buffer, by buffer capacity (a short list: a training
    /// step uses a handful of sizes).
    full: Vec<(usize, Vec<Shell>)>,
    /// Unshared handles whose buffer was handed out (they hold an empty `Vec`).
    empty: Vec<Shell>,
    /// Unshared layout allocations.
    layouts: Vec<Rc<Layout>>,
    /// Values held in `full`.
    held: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A recycled buffer of capacity exactly `n` (its length and contents are unspecified: the
/// caller clears or overwrites it), if one is waiting.
pub(super) fn take_buffer(n: usize) -> Option<Vec<f64>> {
    if n == 0 {
        return None;
    }
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let pool = &mut *pool;
        let (_, shells) = pool.full.iter_mut().find(|(len, _)| *len == n)?;
        let mut shell = shells.pop()?;
        pool.held -= n;
        // Unshared by construction: only `give_back` puts handles here, after checking.
        let buffer = Rc::get_mut(&mut shell)?.get_mut();
        let Buffer::Host(values) = std::mem::replace(buffer, Buffer::Host(Vec::new())) else {
            return None;
        };
        if pool.empty.len() < MAX_HANDLES {
            pool.empty.push(shell);
        }
        Some(values)
    })
    .ok()
    .flatten()
}

/// A handle around `buffer`, reusing an unshared one when the pool has it.
pub(super) fn shell(buffer: Buffer) -> Shell {
    let recycled = POOL
        .try_with(|pool| pool.borrow_mut().empty.pop())
        .ok()
        .flatten();
    match recycled {
        Some(mut shell) => {
            if let Some(slot) = Rc::get_mut(&mut shell) {
                *slot.get_mut() = buffer;
                return shell;
            }
            Rc::new(RefCell::new(buffer))
        }
        None => Rc::new(RefCell::new(buffer)),
    }
}

/// Takes back a storage handle that is being dropped: kept when it is unshared and holds a
/// host buffer that fits the bounds, else freed.
pub(super) fn give_back(mut shell: Shell) {
    let Some(cell) = Rc::get_mut(&mut shell) else {
        return; // still shared: dropping this handle only decrements the count
    };
    let capacity = match cell.get_mut() {
        Buffer::Host(values) => values.capacity(),
        Buffer::Device(_) => return, // device memory goes back to its owner at once
    };
    // A rejected handle comes back out and is freed after the pool is released. (If the
    // thread's pool is already gone, the closure is dropped unrun, freeing the handle.)
    let rejected = POOL
        .try_with(move |pool| {
            let mut pool = pool.borrow_mut();
            if capacity == 0 {
                if pool.empty.len() >= MAX_HANDLES {
                    return Some(shell);
                }
                pool.empty.push(shell);
                return None;
            }
            if (pool.held + capacity).saturating_mul(8) > MAX_HELD_BYTES {
                return Some(shell);
            }
            let index = match pool.full.iter().position(|(len, _)| *len == capacity) {
                Some(i) => i,
                None if pool.full.len() < MAX_SIZES => {
                    pool.full.push((capacity, Vec::new()));
                    pool.full.len() - 1
                }
                None => return Some(shell),
            };
            if pool.full[index].1.len() >= MAX_PER_SIZE {
                return Some(shell);
            }
            pool.full[index].1.push(shell);
            pool.held += capacity;
            None
        })
        .ok()
        .flatten();
    drop(rejected);
}

/// A layout allocation holding `layout`, reusing an unshared one when the pool has it.
pub(super) fn layout(layout: Layout) -> Rc<Layout> {
    let recycled = POOL
        .try_with(|pool| pool.borrow_mut().layouts.pop())
        .ok()
        .flatten();
    match recycled {
        Some(mut rc) => match Rc::get_mut(&mut rc) {
            Some(slot) => {
                *slot = layout;
                rc
            }
            None => Rc::new(layout),
        },
        None => Rc::new(layout),
    }
}

/// Takes back a layout handle that is being dropped (kept when unshared).
pub(super) fn give_back_layout(mut rc: Rc<Layout>) {
    if Rc::get_mut(&mut rc).is_none() {
        return;
    }
    let rejected = POOL
        .try_with(move |pool| {
            let mut pool = pool.borrow_mut();
            if pool.layouts.len() >= MAX_HANDLES {
                return Some(rc);
            }
            pool.layouts.push(rc);
            None
        })
        .ok()
        .flatten();
    drop(rejected);
}

/// Frees everything this thread's pool holds (buffers, handles, layouts).
pub fn release() {
    let pool = POOL.try_with(|pool| std::mem::take(&mut *pool.borrow_mut()));
    drop(pool);
}

/// Bytes of tensor values this thread's pool holds for reuse.
pub fn held_bytes() -> usize {
    POOL.try_with(|pool| pool.borrow().held * 8).unwrap_or(0)
}
