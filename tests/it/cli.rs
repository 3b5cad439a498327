//! The `mitocount` binary: exit codes and messages.

use std::process::Command;

fn mitocount() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mitocount"))
}

#[test]
fn usage_error_exits_2() {
    let out = mitocount().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_slide_exits_1_and_names_the_file() {
    let out = mitocount()
        .args(["info", "/nonexistent/slide.svs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/slide.svs"), "{stderr}");
}
