//! Two replicas of each service on one stack: one backup-watcher reconciles
//! and one cleanup sweeps at a time (leases on JetStream key-value), the
//! other takes over when the holder is killed; two catalogs on one
//! PostgreSQL database serve requests and relay each event once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sqlx::Row;
use xregion_bus::EventSubject;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::sync::SyncEnv;
use xregion_tests::{wait_until, Stack, StackOptions, WAIT};

const TTL: Duration = Duration::from_secs(6);
const PERIOD: Duration = Duration::from_secs(1);
const TICKS: &str = "xregion_lease_ticks_total";
const HELD: &str = "xregion_lease_held";

/// Two replicas of one service and the lease their loop runs under.
struct Pair {
    labels: [&'static str; 2],
    lease: &'static str,
}

const PAIRS: [Pair; 2] = [
    Pair {
        labels: ["watcher-a", "watcher-b"],
        lease: "xregion-backup-watcher.reconcile",
    },
    Pair {
        labels: ["cleanup-a", "cleanup-b"],
        lease: "xregion-cleanup.sweep",
    },
];

impl Pair {
    fn label(&self) -> String {
        format!("lease=\"{}\"", self.lease)
    }

    /// Passes each replica has run so far.
    async fn ticks(&self, stack: &Stack) -> anyhow::Result<[f64; 2]> {
        let label = self.label();
        Ok([
            stack.metric(self.labels[0], TICKS, &label).await?,
            stack.metric(self.labels[1], TICKS, &label).await?,
        ])
    }

    /// Waits until the pair has run `passes` more passes than `from`;
    /// returns the counts then.
    async fn wait_passes(
        &self,
        stack: &Stack,
        from: [f64; 2],
        passes: f64,
    ) -> anyhow::Result<[f64; 2]> {
        let what = format!("{passes} more passes of {}", self.lease);
        wait_until(&what, WAIT, || async {
            let now = self.ticks(stack).await?;
            Ok((now[0] + now[1] >= from[0] + from[1] + passes).then_some(now))
        })
        .await
    }
}

#[tokio::test]
async fn one_replica_reconciles_and_one_sweeps_and_the_other_takes_over_when_it_dies(
) -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        services: vec!["catalog"],
        extra_config: format!(
            "\n[watcher]\nreconcile_interval_secs = {p}\n\n[cleanup]\nsweep_interval_secs = {p}\n",
            p = PERIOD.as_secs()
        ),
        ..Default::default()
    })
    .await?;
    let ttl = format!("bus.lease_ttl_secs={}", TTL.as_secs());
    for (pair, service) in PAIRS.iter().zip(["backup-watcher", "cleanup"]) {
        for label in pair.labels {
            stack
                .start_service_as(label, service, &["--set", &ttl])
                .await?;
        }
    }

    // While both run, only one of each pair runs passes, and only it says
    // it holds the lease.
    let mut holders = Vec::new();
    for pair in &PAIRS {
        let ticks = pair.wait_passes(&stack, [0.0; 2], 3.0).await?;
        let ticks = pair.wait_passes(&stack, ticks, 3.0).await?;
        let ran: Vec<_> = (0..2).filter(|&i| ticks[i] > 0.0).collect();
        assert_eq!(
            ran.len(),
            1,
            "{}: both replicas ran passes: {ticks:?}",
            pair.lease
        );
        let holder = ran[0];
        let label = pair.label();
        assert_eq!(stack.metric(pair.labels[holder], HELD, &label).await?, 1.0);
        assert_eq!(
            stack.metric(pair.labels[1 - holder], HELD, &label).await?,
            0.0
        );
        holders.push(holder);
    }

    // SIGKILL both holders: no release, their leases expire after the TTL.
    for (pair, &holder) in PAIRS.iter().zip(&holders) {
        stack.kill(pair.labels[holder]);
    }
    let killed = Instant::now();
    // The TTL, the other's next attempt (a third of it), its next period,
    // and room for a loaded machine.
    let bound = TTL + TTL / 3 + PERIOD + Duration::from_secs(10);
    for (pair, &holder) in PAIRS.iter().zip(&holders) {
        let other = pair.labels[1 - holder];
        let label = pair.label();
        wait_until(
            &format!("{other} to take over {}", pair.lease),
            bound,
            || async { Ok((stack.metric(other, TICKS, &label).await? > 0.0).then_some(())) },
        )
        .await?;
        assert!(
            killed.elapsed() <= bound,
            "{other} took over after {:?}",
            killed.elapsed()
        );
        assert_eq!(stack.metric(other, HELD, &label).await?, 1.0);
    }
    Ok(())
}

#[tokio::test]
async fn two_catalogs_on_one_database_serve_and_relay_each_event_once() -> anyhow::Result<()> {
    let (mut stack, env) = SyncEnv::start(StackOptions::api_only()).await?;
    stack.start_service_as("catalog-b", "catalog", &[]).await?;
    let instances: Vec<String> = (0..8).map(|i| format!("rep-{i}")).collect();
    for id in &instances {
        env.instance(id, Engine::Mysql, "r1").await?;
    }
    // Created at once: the requests are spread over both catalogs.
    let created = futures::future::join_all(
        instances
            .iter()
            .map(|id| env.create(id, Engine::Mysql, "r1", "r2")),
    )
    .await;
    let ids: BTreeSet<String> = created
        .into_iter()
        .map(|s| s.map(|s| s.id))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(ids.len(), instances.len());
    env.probe
        .wait_events::<pb::ServiceCreated>(
            "every ServiceCreated",
            EventSubject::ServiceCreated,
            |e| e.len() >= instances.len(),
        )
        .await?;

    // Every outbox row went out once: the two relays' publishes add up to
    // the rows, and the stream holds no message id twice.
    let url = stack.db.as_ref().expect("postgres stack").url.clone();
    let rows = wait_until("the outbox to be drained", WAIT, || async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE sent_at IS NULL) AS pending FROM outbox",
        )
        .fetch_one(&mut conn)
        .await?;
        let (n, pending): (i64, i64) = (row.get("n"), row.get("pending"));
        Ok((pending == 0).then_some(n))
    })
    .await?;
    let published = stack
        .metric("catalog", "xregion_outbox_published_total", "")
        .await?
        + stack
            .metric("catalog-b", "xregion_outbox_published_total", "")
            .await?;
    assert_eq!(
        published, rows as f64,
        "each row published by one relay once"
    );
    assert_no_id_twice(&env).await?;

    // One catalog dies: the other serves and relays alone.
    stack.kill("catalog");
    env.instance("rep-last", Engine::Mysql, "r1").await?;
    let last = env.create("rep-last", Engine::Mysql, "r1", "r2").await?;
    env.probe
        .wait_events::<pb::ServiceCreated>(
            "the last ServiceCreated",
            EventSubject::ServiceCreated,
            |e| {
                e.iter()
                    .any(|c| c.service.as_ref().is_some_and(|s| s.service_id == last.id))
            },
        )
        .await?;
    assert_no_id_twice(&env).await?;
    Ok(())
}

async fn assert_no_id_twice(env: &SyncEnv) -> anyhow::Result<()> {
    let ns = &env.probe.ns;
    let messages = env
        .probe
        .messages(&ns.events_stream(), ns.events_filter())
        .await?;
    let mut seen = BTreeSet::new();
    for m in &messages {
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.to_string())
            .unwrap_or_default();
        assert!(
            !id.is_empty(),
            "an event without a message id on {}: {:?}",
            m.subject,
            m.headers
        );
        assert!(
            seen.insert(id.clone()),
            "message id {id} twice in the events stream"
        );
    }
    Ok(())
}
