//! Paging through 2,500 services returns each exactly once, in a stable
//! order, even while new services are created between pages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use xregion_domain::Engine;
use xregion_proto::xregion::v1 as pb;
use xregion_tests::api::{as_a, create_request, eligible};
use xregion_tests::stack::{TENANT_A, TOKEN_A};
use xregion_tests::{wait_until, Stack, StackOptions};

const N: usize = 2500;

#[tokio::test]
async fn paging_through_2500_services_returns_each_once() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::api_only()).await?;
    let up = stack.upstream().await?;
    for i in 0..=N {
        let id = format!("page-{i:05}");
        up.instance_created(&id, TENANT_A, Engine::Mysql, "r1", 1_700_000_000_000)
            .await?;
    }
    let api = stack.grpc().await?;
    wait_until("inventory recorded", Duration::from_secs(120), || async {
        let ids = eligible(&api, TOKEN_A, pb::Engine::Mysql, "r1").await?;
        Ok((ids.len() == N + 1).then_some(()))
    })
    .await?;
    let created: Vec<String> = futures::stream::iter(0..N)
        .map(|i| {
            let mut api = api.clone();
            async move {
                let req = create_request(&format!("page-{i:05}"));
                anyhow::Ok(api.create_sync_service(as_a(req)).await?.into_inner().id)
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let created: BTreeSet<String> = created.into_iter().collect();
    assert_eq!(created.len(), N);

    for page_size in [100u32, 1000, 0] {
        let mut api = api.clone();
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let req = pb::ListSyncServicesRequest {
                page_size,
                page_token: token.clone(),
                ..Default::default()
            };
            let resp = api.list_sync_services(as_a(req)).await?.into_inner();
            let expected = if page_size == 0 {
                100
            } else {
                page_size as usize
            };
            assert!(resp.services.len() <= expected);
            seen.extend(resp.services.into_iter().map(|s| s.id));
            pages += 1;
            if pages == 2 && page_size == 100 {
                // A service created mid-paging lands after the cursor, once.
                let req = create_request(&format!("page-{N:05}"));
                api.create_sync_service(as_a(req)).await?;
            }
            if resp.next_page_token.is_empty() {
                break;
            }
            token = resp.next_page_token;
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "page size {page_size}: duplicates"
        );
        assert_eq!(seen.len(), N + 1, "page size {page_size}");
        assert!(created.iter().all(|id| unique.contains(id)));
    }
    Ok(())
}
