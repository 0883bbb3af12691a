//! The life of a sync service: `create`, `list`, `get`, `update`, `delete`,
//! `wait`.

use std::time::{Duration, Instant};

use xregion_domain::ServiceState;
use xregion_proto::convert::state_to_api;
use xregion_proto::xregion::v1 as pb;

use crate::api::{answer, paginate, Api, PAGE_SIZE};
use crate::args::{service_state, EngineArg};
use crate::exit::CliError;
use crate::render::{self, Output};
use crate::views::{state_name, ServiceView};

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(long, value_enum)]
    engine: EngineArg,
    #[arg(long)]
    source_region: String,
    #[arg(long)]
    instance: String,
    #[arg(long)]
    target_region: String,
    /// Days of restorable history to keep (1-1825, default 7).
    #[arg(long)]
    retention_days: Option<u32>,
    /// Makes a retry return the same service.
    #[arg(long, default_value = "")]
    request_id: String,
    /// Print only the new service's id (for scripts).
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub async fn create(mut api: Api, args: CreateArgs, out: Output) -> anyhow::Result<()> {
    let req = pb::CreateSyncServiceRequest {
        engine: pb::Engine::from(args.engine).into(),
        source_region: args.source_region,
        source_instance_id: args.instance,
        target_region: args.target_region,
        retention_days: args.retention_days,
        request_id: args.request_id,
    };
    let s = answer(api.create_sync_service(req).await)?;
    if args.quiet {
        render::say!("{}", s.id);
    } else {
        render::one(&ServiceView::from(s), out);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only services in this state.
    #[arg(long, value_parser = service_state(), ignore_case = true)]
    state: Option<ServiceState>,
    #[arg(long)]
    include_deleted: bool,
}

pub async fn list(api: Api, args: ListArgs, out: Output) -> anyhow::Result<()> {
    let state = args.state.map(state_to_api).unwrap_or_default();
    let services = paginate(|page_token| {
        let mut api = api.clone();
        let req = pb::ListSyncServicesRequest {
            state: state.into(),
            include_deleted: args.include_deleted,
            page_size: PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        async move {
            let r = answer(api.list_sync_services(req).await)?;
            Ok((r.services, r.next_page_token))
        }
    })
    .await?;
    let rows: Vec<ServiceView> = services.into_iter().map(Into::into).collect();
    render::list(&rows, out);
    Ok(())
}

pub async fn get(mut api: Api, id: String, out: Output) -> anyhow::Result<()> {
    let s = answer(api.get_sync_service(pb::GetSyncServiceRequest { id }).await)?;
    render::one(&ServiceView::from(s), out);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    id: String,
    /// Days of restorable history to keep (1-1825). Lowering it deletes
    /// nothing now: older copies go with cleanup's next retention pass.
    #[arg(long)]
    retention_days: u32,
}

pub async fn update(mut api: Api, args: UpdateArgs, out: Output) -> anyhow::Result<()> {
    let mut req = pb::UpdateSyncServiceRequest {
        id: args.id,
        retention_days: Some(args.retention_days),
        update_mask: None,
    };
    // The one field the command changes, named as AIP-134 asks.
    req.update_mask
        .get_or_insert_with(Default::default)
        .paths
        .push("retention_days".into());
    let s = answer(api.update_sync_service(req).await)?;
    render::one(&ServiceView::from(s), out);
    Ok(())
}

pub async fn delete(mut api: Api, id: String, out: Output) -> anyhow::Result<()> {
    let s = answer(
        api.delete_sync_service(pb::DeleteSyncServiceRequest { id })
            .await,
    )?;
    render::one(&ServiceView::from(s), out);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    id: String,
    #[arg(long, value_parser = service_state(), ignore_case = true, default_value = "running")]
    state: ServiceState,
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

pub async fn wait(mut api: Api, args: WaitArgs, out: Output) -> anyhow::Result<()> {
    let want = state_to_api(args.state);
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let req = pb::GetSyncServiceRequest {
            id: args.id.clone(),
        };
        let s = answer(api.get_sync_service(req).await)?;
        if s.state == want as i32 {
            render::one(&ServiceView::from(s), out);
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "{} did not reach {} within {}s (now {})",
                args.id,
                state_name(want.into()),
                args.timeout_secs,
                state_name(s.state)
            ))
            .into());
        }
        // Polling the API is the only way to learn the state here; a quarter
        // second keeps a script responsive without loading the gateway.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
