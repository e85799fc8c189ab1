//! pf-api: placeholder until its issue lands.

fn main() {
    eprintln!("pf-api: not built yet");
    std::process::exit(2);
}
