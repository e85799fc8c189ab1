//! pf-state: placeholder until its issue lands.

fn main() {
    eprintln!("pf-state: not built yet");
    std::process::exit(2);
}
