//! A hint to the CPU to start loading memory that will be read soon.
//!
//! A large lineage answer reads one adjacency row per node it walks and one node-table entry
//! and name per node it returns, and those lie wherever the node's number and the name's
//! allocation put them: each read is a cache miss, paid one after the other. Asking for them a
//! few nodes ahead lets those misses overlap. The address asked for must be computed without
//! reading the memory it names (an index into a table, not a checked lookup through it), or
//! the "prefetch" is itself the miss. This is the only `unsafe` in the
//! workspace (the lint is `deny`, allowed here alone): `_mm_prefetch` is a hint that never
//! faults and reads nothing into the program, whatever address it is given.

/// Starts loading the cache line at `address` (no effect on other targets).
#[inline(always)]
pub fn prefetch<T: ?Sized>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch has no architectural effect and does not fault, even on an invalid
    // address; the pointer is not dereferenced.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(address.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
