//! loadgen: placeholder until the loadgen issue lands; it only proves the workspace builds.
fn main() {
    eprintln!(
        "loadgen {}: not built yet (see the loadgen issue)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
