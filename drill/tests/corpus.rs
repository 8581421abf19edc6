//! Every script of the shared corpus (`../shared/packetdrill`, read at run time, never copied)
//! parses.

mod common;

#[test]
fn the_whole_corpus_parses() {
    let Some(dir) = common::corpus_or_skip() else { return };
    let all = common::scripts(&dir);
    assert!(all.len() >= 55, "found {} scripts", all.len());
    let mut failures = Vec::new();
    let mut events = 0;
    for path in &all {
        match synq_drill::parse_file(path) {
            Ok(s) => events += s.events.len(),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts fail to parse:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    println!("{} scripts, {events} events parsed", all.len());
}
