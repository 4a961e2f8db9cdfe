//! The `slagboom` binary: everything lives in the library; this only dispatches.

fn main() -> std::process::ExitCode {
    slagboom::cli::main()
}
