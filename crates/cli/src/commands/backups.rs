//! What a service can restore: `backups`, `window`, `plan`.

use anyhow::Context as _;
use xregion_proto::xregion::v1 as pb;

use crate::api::{answer, paginate, Api, PAGE_SIZE};
use crate::args::TimeArg;
use crate::render::{self, say, Output};
use crate::views::{BackupView, PlanView, WindowView};

pub async fn backups(api: Api, service_id: String, out: Output) -> anyhow::Result<()> {
    let backups = paginate(|page_token| {
        let mut api = api.clone();
        let req = pb::ListSyncedBackupsRequest {
            service_id: service_id.clone(),
            page_size: PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        async move {
            let r = answer(api.list_synced_backups(req).await)?;
            Ok((r.backups, r.next_page_token))
        }
    })
    .await?;
    let rows: Vec<BackupView> = backups.into_iter().map(Into::into).collect();
    render::list(&rows, out);
    Ok(())
}

async fn restore_window(api: &mut Api, service_id: String) -> anyhow::Result<pb::RestoreWindow> {
    let req = pb::GetRestoreWindowRequest { service_id };
    Ok(answer(api.get_restore_window(req).await)?)
}

pub async fn window(mut api: Api, service_id: String, out: Output) -> anyhow::Result<()> {
    let w = WindowView::from(restore_window(&mut api, service_id).await?);
    if out == Output::Json {
        render::json(&w);
        return Ok(());
    }
    let Some(latest) = &w.latest else {
        say!("nothing restorable yet");
        return Ok(());
    };
    let earliest = w.earliest.as_deref().unwrap_or("-");
    say!("earliest  {earliest}");
    say!("latest    {latest}");
    for g in &w.gaps {
        let resumes = g.resumes_at.as_deref().unwrap_or("-");
        say!("gap       after {} until {resumes}: {}", g.after, g.reason);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    id: String,
    /// RFC 3339 (2026-11-26T09:30:00Z), `latest` or `earliest`.
    #[arg(long)]
    time: TimeArg,
}

pub async fn plan(mut api: Api, args: PlanArgs, out: Output) -> anyhow::Result<()> {
    let restore_time = match args.time {
        TimeArg::At(ms) => xregion_proto::convert::timestamp(ms),
        end => {
            let w = restore_window(&mut api, args.id.clone()).await?;
            let t = if end == TimeArg::Latest {
                w.latest
            } else {
                w.earliest
            };
            t.context("nothing restorable yet")?
        }
    };
    let req = pb::GetRestorePlanRequest {
        service_id: args.id,
        restore_time: Some(restore_time),
    };
    let p = PlanView::from(answer(api.get_restore_plan(req).await)?);
    if out == Output::Json {
        render::json(&p);
        return Ok(());
    }
    say!(
        "restore from region {}: FULL {} then {} logs, replay stops at {}",
        p.target_region,
        p.full_backup_id,
        p.log_backup_ids.len(),
        p.stop_at
    );
    render::list(&p.files, out);
    Ok(())
}
