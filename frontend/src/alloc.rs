//! The page's allocator: free lists by power-of-two size class over WASM memory.
//!
//! std's dlmalloc weighs about 3 KB of the page after brotli, for strengths the dropzone does not
//! use: its allocations are small (names, messages, a few vectors; file bytes stay in the
//! browser's Blobs), and WASM memory never shrinks anyway. A block is rounded up to a power of
//! two, so freeing and allocating are both O(1) and a freed block is reused by the next of its
//! class. What that wastes (under half of each block) is a few hundred kilobytes at most for a
//! queue of thousands of files.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;

const PAGE: usize = 65_536;
const CLASSES: usize = usize::BITS as usize;

struct State {
    /// Per class, the first free block; each free block holds the address of the next.
    free: [usize; CLASSES],
    /// Fresh memory not yet handed out: `[next, end)`.
    next: usize,
    end: usize,
}

pub struct Classes(UnsafeCell<State>);

// SAFETY: the page's WASM runs on one thread (no atomics, no workers share this memory).
unsafe impl Sync for Classes {}

impl Classes {
    pub const fn new() -> Self {
        Classes(UnsafeCell::new(State { free: [0; CLASSES], next: 0, end: 0 }))
    }
}

/// `pages` more pages of WASM memory; the address of the first, or `None` when the browser refuses.
fn grow(pages: usize) -> Option<usize> {
    let old = wasm32::memory_grow(0, pages);
    (old != usize::MAX).then_some(old * PAGE)
}

/// The class of a layout: blocks of `1 << class` bytes, aligned to their size.
fn class(layout: Layout) -> usize {
    let size = layout.size().max(layout.align()).max(core::mem::size_of::<usize>());
    size.next_power_of_two().trailing_zeros() as usize
}

unsafe impl GlobalAlloc for Classes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: one thread, and no allocation runs inside another.
        let s = unsafe { &mut *self.0.get() };
        let c = class(layout);
        let head = s.free[c];
        if head != 0 {
            // SAFETY: a free block of this class holds the address of the next one.
            s.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << c;
        if size >= PAGE {
            // Whole pages: page-aligned, which covers every alignment a Layout of this size asks.
            return grow(size / PAGE).map_or(core::ptr::null_mut(), |at| at as *mut u8);
        }
        let at = (s.next + size - 1) & !(size - 1);
        if at + size > s.end {
            let Some(start) = grow(1) else { return core::ptr::null_mut() };
            // What was left of the old page stays unused: less than this block.
            s.end = start + PAGE;
            s.next = start + size;
            return start as *mut u8;
        }
        s.next = at + size;
        at as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`; `ptr` came from `alloc` with this layout, so from this class.
        let s = unsafe { &mut *self.0.get() };
        let c = class(layout);
        unsafe { *(ptr as *mut usize) = s.free[c] };
        s.free[c] = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promises for `realloc`, passed on.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(new) == class(layout) {
            return ptr;
        }
        let fresh = unsafe { self.alloc(new) };
        if !fresh.is_null() {
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        fresh
    }
}
