//! A real browser opens the Explorer URL that `check` prints for a counterexample and must
//! show the violated property and the sequence diagram (one lifeline per server).
//! Skips, saying why, only when chromium is not installed.

use raft_model::check::{check, CheckOptions};
use raft_model::{Bug, RaftModel};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the Explorer this test started when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn the_counterexample_url_shows_the_violation_and_the_sequence_diagram() {
    let Some(browser) = chromium() else {
        println!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let bug = Bug::QuorumOffByOne;
    let model = RaftModel::for_bug(bug);
    let addr = format!("127.0.0.1:{}", free_port());
    let report = check(
        &model,
        &CheckOptions {
            explorer_addr: addr.clone(),
            ..CheckOptions::default()
        },
    );
    let property = report
        .property(bug.violates())
        .expect("the property exists");
    assert_eq!(property.status, "violated");
    let url = property.explorer_url.clone().expect("a URL");

    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_raft-model"))
            .args(["explore", "--bug", bug.name(), "--addr", &addr])
            .stdout(Stdio::null())
            .spawn()
            .expect("the explorer starts"),
    );
    let start = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "explorer did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let profile = std::env::temp_dir().join(format!("raft-model-chromium-{}", std::process::id()));
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &url,
        ])
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    drop(server);
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);

    assert!(dom.contains("<svg"), "no SVG in the page:\n{dom}");
    assert!(dom.contains("raft-sequence"), "no sequence diagram:\n{dom}");
    let lifelines = dom.matches("class=\"lifeline\"").count();
    assert_eq!(
        lifelines, model.bounds.servers as usize,
        "one lifeline per server"
    );
    assert!(
        dom.contains(&format!("violated: {}", bug.violates())),
        "the violated property is not shown:\n{dom}"
    );
    let steps = property.counterexample.as_ref().expect("steps").len();
    assert!(
        dom.contains(&format!("{steps}. ")),
        "the diagram does not reach the last step {steps}"
    );
}
