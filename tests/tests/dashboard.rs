//! The web dashboard (#16 point 1) in headless Chromium against a running
//! stack: sign in with a token, create a service from the dialog, watch a
//! throttled copy's progress bar move, see the latest data time after the
//! sync, delete from the page. A screenshot is taken every run; with
//! XREGION_UPDATE_SCREENSHOT=1 it also replaces docs/dashboard.png.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[path = "dashboard/webdriver.rs"]
mod webdriver;

use serde_json::Value;
use xregion_domain::Engine;
use xregion_proto::convert::{format_millis, opt_millis};
use xregion_proto::xregion::v1 as pb;
use xregion_rds_sim::ChainGen;
use xregion_tests::net::free_port;
use xregion_tests::stack::{TENANT_A, TOKEN_A};
use xregion_tests::sync::{SyncEnv, FAST_SYNC_CONFIG};
use xregion_tests::{now_ms, wait_until, Stack, StackOptions, WAIT};

use webdriver::Browser;

const MIB: usize = 1024 * 1024;
/// The full lane from r1 to r2 runs at 2 MiB/s: the 16 MiB FULL takes
/// about 8 s, long enough to watch, with a progress event every second.
const LIMIT: usize = 2 * MIB;
const BIG: usize = 16 * MIB;
const MIN: i64 = 60_000;
const INSTANCE: &str = "dash-db";

/// What the page shows in `script`'s terms, once it is not null.
async fn shown(browser: &Browser, what: &str, script: &str) -> anyhow::Result<Value> {
    wait_until(what, WAIT, || async {
        let v = browser.eval(script).await?;
        Ok((!v.is_null()).then_some(v))
    })
    .await
}

fn row_script(instance: &str) -> String {
    format!(
        "const r = [...document.querySelectorAll('#services tbody tr')]
           .find(tr => tr.children[2].textContent === '{instance}');
         return r ? {{ id: r.dataset.service, state: r.querySelector('.state').textContent,
                      latest: r.querySelector('.latest').textContent,
                      synced: r.querySelector('.synced').textContent }} : null;"
    )
}

#[tokio::test]
async fn the_dashboard_shows_services_progress_and_windows_live() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["catalog", "backup-watcher", "transfer-worker"],
        extra_config: format!(
            "{FAST_SYNC_CONFIG}bandwidth = [{{ source = \"r1\", target = \"r2\", bytes_per_sec = {LIMIT} }}]\n"
        ),
        ..Default::default()
    })
    .await?;
    let dashboard = format!("127.0.0.1:{}", free_port()?);
    stack
        .start_service("api-gateway", &["--dashboard-listen", &dashboard])
        .await?;
    let env = SyncEnv::new(&stack, "r1", "r2").await?;
    env.instance(INSTANCE, Engine::Mysql, "r1").await?;

    let browser = Browser::start(stack.dir.path()).await?;
    browser.goto(&format!("http://{dashboard}/")).await?;

    // A token the gateway does not know is refused on the page.
    browser.type_into("#token", "not-a-token").await?;
    browser.click("#signin").await?;
    let refused = shown(
        &browser,
        "the sign-in error",
        "const e = document.querySelector('#signin-error'); return e.hidden ? null : e.textContent;",
    )
    .await?;
    assert!(
        refused.as_str().unwrap().contains("not accepted"),
        "{refused}"
    );

    browser.type_into("#token", TOKEN_A).await?;
    browser.click("#signin").await?;
    let tenant = shown(
        &browser,
        "signed in, live",
        "return document.querySelector('#live').textContent === 'live'
           ? document.querySelector('#tenant').textContent : null;",
    )
    .await?;
    assert_eq!(tenant, TENANT_A);

    // Create from the dialog: r1 is the first source, r2 the proposed target.
    browser.click("#new-service").await?;
    shown(
        &browser,
        "the create dialog",
        "return document.querySelector('#create-dialog').open || null;",
    )
    .await?;
    browser.type_into("#c-instance", INSTANCE).await?;
    browser.click("#c-submit").await?;
    let row = shown(&browser, "the new service's row", &row_script(INSTANCE)).await?;
    let id = row["id"].as_str().unwrap().to_string();
    let svc = env.get(&id).await?;
    assert_eq!(
        (svc.source_region.as_str(), svc.target_region.as_str()),
        ("r1", "r2")
    );
    assert!(
        ["CREATING", "SEEDING"].contains(&row["state"].as_str().unwrap()),
        "{row}"
    );

    // Seed: a FULL, a LOG, a LOG the upstream never announces (a gap), a
    // LOG, then a FULL and a LOG that start the window again. Times end
    // about half an hour ago: the lag is well within the 12 h promise.
    let t0 = now_ms() - 150 * MIN;
    let mut chain = ChainGen::new(INSTANCE, TENANT_A, "r1", Engine::Mysql, t0);
    env.upstream.emit(&env.source, &chain.full(MIB / 4)).await?;
    env.upstream
        .emit(&env.source, &chain.log(30 * MIN, 64 * 1024))
        .await?;
    let _skipped = chain.log(30 * MIN, 64 * 1024);
    env.upstream
        .emit(&env.source, &chain.log(30 * MIN, 64 * 1024))
        .await?;
    env.upstream.emit(&env.source, &chain.full(MIB / 4)).await?;
    env.upstream
        .emit(&env.source, &chain.log(30 * MIN, 64 * 1024))
        .await?;
    let running = env.wait_running(&id, 5).await?;
    let latest = format_millis(opt_millis(running.latest_data_time.as_ref()).unwrap());
    let row = shown(&browser, "the row RUNNING with its latest data time", &format!(
        "const r = (() => {{ {} }})(); return r && r.state === 'RUNNING' && r.latest === '{latest}' ? r : null;",
        row_script(INSTANCE)
    ))
    .await?;
    assert!(row["synced"].as_str().unwrap().starts_with("5 "), "{row}");
    let gaps = env.window(&id).await?.gaps;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let shown_gap = shown(
        &browser,
        "the restore window timeline with its gap and reason",
        &format!(
            "const w = document.querySelector('.window[data-service=\"{id}\"]');
             const gap = w && w.querySelector('svg .tl-gap title');
             return w && w.querySelector('svg .tl-bar') && gap
               ? {{ title: gap.textContent, listed: w.querySelector('ul li').textContent }} : null;"
        ),
    )
    .await?;
    assert_eq!(shown_gap["title"], gaps[0].reason.as_str());
    assert!(
        shown_gap["listed"]
            .as_str()
            .unwrap()
            .ends_with(&gaps[0].reason),
        "{shown_gap}"
    );

    // A big FULL on the throttled lane: a progress bar with bytes and a rate.
    env.upstream.emit(&env.source, &chain.full(BIG)).await?;
    let bar = shown(
        &browser,
        "a progress bar with bytes and a rate",
        "const t = [...document.querySelectorAll('.transfer')].find(t => !t.classList.contains('done')
                   && Number(t.dataset.bytesDone) > 0 && !t.querySelector('.rate').textContent.startsWith('0 B'));
         return t ? { backup: t.dataset.backup, bytes: Number(t.dataset.bytesDone),
                      rate: t.querySelector('.rate').textContent, eta: t.querySelector('.eta').textContent,
                      width: t.querySelector('.fill').style.width } : null;",
    )
    .await?;
    assert!(bar["backup"].as_str().unwrap().contains("-full-"), "{bar}");
    assert!(
        bar["bytes"].as_u64().unwrap() < BIG as u64,
        "caught mid-copy: {bar}"
    );
    assert!(bar["eta"].as_str().unwrap().starts_with("ETA "), "{bar}");

    let png = browser.screenshot_png().await?;
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG screenshot"
    );
    std::fs::write(stack.dir.path().join("dashboard.png"), &png)?;
    if std::env::var("XREGION_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dashboard.png");
        std::fs::write(docs, &png)?;
    }

    // After the sync (and one more LOG): seven copies, the latest data
    // time as the API says.
    env.upstream
        .emit(&env.source, &chain.log(10 * MIN, 64 * 1024))
        .await?;
    let synced = env.wait_running(&id, 7).await?;
    let latest = format_millis(opt_millis(synced.latest_data_time.as_ref()).unwrap());
    shown(&browser, "the row after the big copy", &format!(
        "const r = (() => {{ {} }})(); return r && r.synced.startsWith('7 ') && r.latest === '{latest}' ? r : null;",
        row_script(INSTANCE)
    ))
    .await?;

    // Delete from the page, through the confirmation.
    browser
        .click(&format!("tr[data-service=\"{id}\"] button.delete"))
        .await?;
    browser.click("#d-confirm").await?;
    wait_until("the service deleted", WAIT, || async {
        Ok(match env.get(&id).await {
            Ok(s) => (s.state != pb::ServiceState::Running as i32).then_some(()),
            Err(_) => Some(()), // already gone
        })
    })
    .await?;
    shown(
        &browser,
        "the row leaving RUNNING",
        &format!(
            "const r = (() => {{ {} }})(); return !r || r.state !== 'RUNNING' ? true : null;",
            row_script(INSTANCE)
        ),
    )
    .await?;
    browser.quit().await
}
