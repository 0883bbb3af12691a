//! Each subcommand: one or a few gRPC calls, then rendering.

use anyhow::Context as _;
use futures::StreamExt;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};
use xregion_proto::xregion::v1 as pb;
use xregion_proto::xregion::v1::cross_region_backup_service_client::CrossRegionBackupServiceClient;

use crate::render;
use crate::{Cli, Command, EngineArg, Output};

type Client = CrossRegionBackupServiceClient<InterceptedService<Channel, Bearer>>;

#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

fn engine(e: EngineArg) -> i32 {
    match e {
        EngineArg::Mysql => pb::Engine::Mysql as i32,
        EngineArg::Sqlserver => pb::Engine::Sqlserver as i32,
    }
}

/// "CODE: message", the server's words.
fn status(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let token = match &cli.token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse()
                .context("token is not valid header text")?,
        ),
        None => None,
    };
    let channel = crate::connect::channel(&cli.endpoint, &cli.tls).await?;
    let mut api: Client = CrossRegionBackupServiceClient::with_interceptor(channel, Bearer(token));
    let json = cli.output == Output::Json;
    match cli.command {
        Command::Regions => {
            let r = api
                .list_regions(pb::ListRegionsRequest {})
                .await
                .map_err(status)?
                .into_inner();
            render::regions(&r.regions, json);
        }
        Command::Instances { engine: e, region } => {
            let req = pb::ListEligibleInstancesRequest {
                engine: engine(e),
                source_region: region,
            };
            let r = api
                .list_eligible_instances(req)
                .await
                .map_err(status)?
                .into_inner();
            render::instances(&r.instances, json);
        }
        Command::Create {
            engine: e,
            source_region,
            instance,
            target_region,
            retention_days,
            request_id,
            quiet,
        } => {
            let req = pb::CreateSyncServiceRequest {
                engine: engine(e),
                source_region,
                source_instance_id: instance,
                target_region,
                retention_days,
                request_id,
            };
            let s = api
                .create_sync_service(req)
                .await
                .map_err(status)?
                .into_inner();
            if quiet {
                println!("{}", s.id);
            } else {
                render::services(&[s], json);
            }
        }
        Command::List {
            state,
            include_deleted,
        } => {
            let state = match state {
                Some(s) => pb::ServiceState::from_str_name(&format!(
                    "SERVICE_STATE_{}",
                    s.to_ascii_uppercase()
                ))
                .ok_or_else(|| anyhow::anyhow!("unknown state {s:?}"))?
                    as i32,
                None => 0,
            };
            let mut all = Vec::new();
            let mut token = String::new();
            loop {
                let req = pb::ListSyncServicesRequest {
                    state,
                    include_deleted,
                    page_size: 1000,
                    page_token: token,
                    ..Default::default()
                };
                let r = api
                    .list_sync_services(req)
                    .await
                    .map_err(status)?
                    .into_inner();
                all.extend(r.services);
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
            render::services(&all, json);
        }
        Command::Get { id } => {
            let s = api
                .get_sync_service(pb::GetSyncServiceRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            render::services(&[s], json);
        }
        Command::Delete { id } => {
            let s = api
                .delete_sync_service(pb::DeleteSyncServiceRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            render::services(&[s], json);
        }
        Command::Backups { id } => {
            let mut all = Vec::new();
            let mut token = String::new();
            loop {
                let req = pb::ListSyncedBackupsRequest {
                    service_id: id.clone(),
                    page_size: 1000,
                    page_token: token,
                    ..Default::default()
                };
                let r = api
                    .list_synced_backups(req)
                    .await
                    .map_err(status)?
                    .into_inner();
                all.extend(r.backups);
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
            render::backups(&all, json);
        }
        Command::Window { id } => {
            let w = api
                .get_restore_window(pb::GetRestoreWindowRequest { service_id: id })
                .await
                .map_err(status)?
                .into_inner();
            render::window(&w, json);
        }
        Command::Plan { id, time } => {
            let ts = match time.as_str() {
                "latest" | "earliest" => {
                    let w = api
                        .get_restore_window(pb::GetRestoreWindowRequest {
                            service_id: id.clone(),
                        })
                        .await
                        .map_err(status)?
                        .into_inner();
                    let t = if time == "latest" {
                        w.latest
                    } else {
                        w.earliest
                    };
                    t.ok_or_else(|| anyhow::anyhow!("nothing restorable yet"))?
                }
                _ => {
                    let t = chrono::DateTime::parse_from_rfc3339(&time)
                        .with_context(|| format!("--time {time:?} is not RFC 3339 (e.g. 2026-11-26T09:30:00Z), latest or earliest"))?;
                    xregion_proto::convert::timestamp(t.timestamp_millis())
                }
            };
            let p = api
                .get_restore_plan(pb::GetRestorePlanRequest {
                    service_id: id,
                    restore_time: Some(ts),
                })
                .await
                .map_err(status)?
                .into_inner();
            render::plan(&p, json);
        }
        Command::Watch { id } => {
            let mut stream = api
                .watch_sync_service(pb::WatchSyncServiceRequest {
                    service_id: id.clone().unwrap_or_default(),
                })
                .await
                .map_err(status)?
                .into_inner();
            render::watching(&id, json);
            let mut bars = render::Bars::default();
            while let Some(event) = stream.next().await {
                bars.show(event.map_err(status)?, json);
            }
        }
        Command::Wait {
            id,
            state,
            timeout_secs,
        } => {
            let want = pb::ServiceState::from_str_name(&format!(
                "SERVICE_STATE_{}",
                state.to_ascii_uppercase()
            ))
            .ok_or_else(|| anyhow::anyhow!("unknown state {state:?}"))?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_secs);
            loop {
                let s = api
                    .get_sync_service(pb::GetSyncServiceRequest { id: id.clone() })
                    .await
                    .map_err(status)?
                    .into_inner();
                if s.state == want as i32 {
                    render::services(&[s], json);
                    break;
                }
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "{id} did not reach {state} within {timeout_secs}s (now {:?})",
                    s.state
                );
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
        Command::Restore { .. } | Command::Drill { .. } | Command::Admin(_) => {
            anyhow::bail!("restore, drill and admin do not use the API")
        }
        Command::Usage { id } => {
            let u = api
                .get_usage(pb::GetUsageRequest {
                    service_id: id,
                    from: None,
                    to: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            render::usage(&u, json);
        }
    }
    Ok(())
}
