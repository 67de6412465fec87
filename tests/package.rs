//! The Debian package as a user installs it: `packaging/build-deb` builds it from the binary
//! under test, lintian finds no error in it, and the binary extracted (`dpkg-deb -x`) into a
//! temporary root runs from there: `info` on the bundled phantom installed beside it, and the
//! workstation's screenshot mode under Xvfb opening that phantom from the installed location,
//! not from the source tree. Needs dpkg-deb, dpkg-shlibdeps, lintian and xvfb-run
//! (`.ci/install-deps`).

#![cfg(feature = "gui")]

mod common;

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (see .ci/install-deps)"));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn the_debian_package_is_lintian_clean_and_runs_from_where_it_is_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let build = common::project("packaging/build-deb");
    let (ok, deb, err) = run(Command::new(build).args([env!("CARGO_BIN_EXE_twinplan"), tmp.path().to_str().unwrap()]));
    assert!(ok, "build-deb failed: {err}");
    let deb = deb.trim();
    assert!(deb.ends_with(".deb") && Path::new(deb).is_file(), "{deb}");

    let (_, said, _) = run(Command::new("lintian").args(["--no-tag-display-limit", deb]));
    eprintln!("lintian:\n{said}");
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors: {errors:?}");

    let root = tmp.path().join("root");
    let (ok, _, err) = run(Command::new("dpkg-deb").args(["-x", deb, root.to_str().unwrap()]));
    assert!(ok, "{err}");
    let share = root.join("usr/share");
    for file in [
        "applications/twinplan.desktop",
        "mime/packages/twinplan.xml",
        "icons/hicolor/scalable/apps/twinplan.svg",
        "icons/hicolor/48x48/apps/twinplan.png",
        "icons/hicolor/256x256/apps/twinplan.png",
        "man/man1/twinplan.1.gz",
        "man/man1/twinplan-check.1.gz",
        "bash-completion/completions/twinplan",
        "zsh/vendor-completions/_twinplan",
        "fish/vendor_completions.d/twinplan.fish",
        "doc/twinplan/copyright",
        "twinplan/sample_scans/phantom/phantom.twinplan.json",
    ] {
        assert!(share.join(file).is_file(), "{file} is not in the package");
    }
    let desktop = std::fs::read_to_string(share.join("applications/twinplan.desktop")).unwrap();
    assert!(desktop.contains("MimeType=application/x-twinplan-plan;"), "{desktop}");
    let mime = std::fs::read_to_string(share.join("mime/packages/twinplan.xml")).unwrap();
    assert!(mime.contains("application/x-twinplan-plan") && mime.contains("*.twinplan.json"), "{mime}");
    let bash = std::fs::read_to_string(share.join("bash-completion/completions/twinplan")).unwrap();
    assert!(bash.contains("--rtstruct") && bash.contains("retrieve"), "the completions know the commands");

    // The installed binary, on the phantom installed beside it.
    let binary = root.join("usr/bin/twinplan");
    let phantom = share.join("twinplan/sample_scans/phantom");
    let (ok, text, err) = run(Command::new(&binary).arg("info").arg(phantom.join("dicom")));
    assert!(ok, "{err}");
    eprintln!("{text}");
    assert!(text.contains("modality CT") && text.contains("dims 176 x 216 x 150"), "{text}");

    // The workstation, started with no path, opens the installed phantom.
    let shot = tmp.path().join("installed.png");
    let (ok, _, log) = run(Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(&binary)
        .env("TWINPLAN_SCREENSHOT", &shot)
        .current_dir(tmp.path()));
    assert!(ok, "{log}");
    let opened = phantom.join("phantom.twinplan.json");
    assert!(log.contains(&format!("opening {}", opened.display())), "not opened from the package:\n{log}");
    assert!(log.contains("launch to scan and surfaces shown"), "{log}");
    assert!(Path::new(&shot).is_file());
}
