//! pf-auth: placeholder until its issue lands.

fn main() {
    eprintln!("pf-auth: not built yet");
    std::process::exit(2);
}
