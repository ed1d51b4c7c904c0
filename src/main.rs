//! The `tributary` binary: a thin shell over `tributary_server::cli`.

fn main() -> std::process::ExitCode {
    tributary_server::cli::main()
}
