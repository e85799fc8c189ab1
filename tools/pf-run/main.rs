//! pf-run: placeholder until its issue lands.

fn main() {
    eprintln!("pf-run: not built yet");
    std::process::exit(2);
}
