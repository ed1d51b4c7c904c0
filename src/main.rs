//! The `tributary` binary: a thin shell over `tributary_server::cli`.

/// mimalloc instead of glibc's malloc: ingest allocates on the parsing threads and frees on
/// others (and the writer the reverse), where glibc's arenas contend; `tributary import` of
/// the 10k mesh took 30% less CPU per event with it (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tributary_server::cli::main()
}
