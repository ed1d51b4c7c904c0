//! The `tributary` binary: a thin shell over `tributary_server::cli`.

/// mimalloc instead of glibc's malloc: ingest allocates on the parsing threads and frees on
/// others (and the writer the reverse), where glibc's arenas contend; `tributary import` of
/// the 10k mesh took 30% less CPU per event with it (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e` of the bundled mimalloc 3;
/// the binding's constants are those of mimalloc 2, so the number is checked by a test).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the allocator before it is given back to the system.
/// mimalloc's default (1 s) gave back, and faulted in again as zeroed 2 MiB pages, what a
/// steady ingest frees and allocates again a moment later: 15% of the parsing threads' time
/// in `tributary import`. With 10 s, the import of the 100k mesh is 6-8% faster for ~30 MB
/// more RSS, and an idle server still returns it (benches/README.md, session 15).
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

fn main() -> std::process::ExitCode {
    // SAFETY: `mi_option_set` takes any option number and value (an unknown option is
    // ignored with a warning) and may be called at any time; the value is a plain delay.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS)
    };
    tributary_server::cli::main()
}

#[cfg(test)]
mod tests {
    /// The option number is mimalloc 3's `mi_option_purge_delay`: it holds that option's
    /// documented default until `main` sets it, and setting it reads back.
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_main_sets() {
        // SAFETY: reading and setting a mimalloc option, as in `main`.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY), 1000);
            libmimalloc_sys::mi_option_set(super::MI_OPTION_PURGE_DELAY, super::PURGE_DELAY_MS);
            assert_eq!(libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY), super::PURGE_DELAY_MS);
        }
    }
}
