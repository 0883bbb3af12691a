//! The tenant API as the commands use it: a connected client that sends the
//! bearer token, and the one paging loop.

use std::future::Future;

use anyhow::Context as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};
use xregion_proto::xregion::v1::cross_region_backup_service_client::CrossRegionBackupServiceClient;

use crate::connect::TlsArgs;
use crate::exit::CliError;

/// Cheap to clone: clones share one connection.
pub type Api = CrossRegionBackupServiceClient<InterceptedService<Channel, Bearer>>;

/// Where the gateway is and who we are: the global flags API commands use.
pub struct Target<'a> {
    pub endpoint: &'a str,
    pub token: Option<&'a str>,
    pub tls: &'a TlsArgs,
}

#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub async fn connect(target: &Target<'_>) -> anyhow::Result<Api> {
    let token = match target.token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse()
                .context("token is not valid header text")?,
        ),
        None => None,
    };
    let channel = crate::connect::channel(target.endpoint, target.tls).await?;
    Ok(CrossRegionBackupServiceClient::with_interceptor(
        channel,
        Bearer(token),
    ))
}

/// The answer of a call, or the server's status as a [`CliError`] (which
/// decides the exit status).
pub fn answer<T>(result: Result<tonic::Response<T>, Status>) -> Result<T, CliError> {
    Ok(result?.into_inner())
}

/// Page size asked for; the server may send fewer.
pub const PAGE_SIZE: u32 = 1000;

/// Every item of a paged list: `page(token)` fetches one page (starting with
/// the empty token) and returns its items and the next token, empty at the
/// end. A server that hands back the token it was given would loop forever:
/// that is an error.
pub async fn paginate<T, F, Fut>(mut page: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = page(token.clone()).await?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        anyhow::ensure!(next != token, "the server repeated page token {next:?}");
        token = next;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paginate_follows_tokens_to_the_end() {
        let pages = |token: String| async move {
            Ok(match token.as_str() {
                "" => (vec![1, 2], "a".to_string()),
                "a" => (vec![3], "b".to_string()),
                "b" => (vec![], String::new()),
                other => anyhow::bail!("unexpected token {other}"),
            })
        };
        assert_eq!(paginate(pages).await.unwrap(), [1, 2, 3]);
        let empty = paginate(|_| async { Ok((Vec::<u8>::new(), String::new())) });
        assert!(empty.await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn paginate_refuses_a_token_that_does_not_advance() {
        let stuck = paginate(|_| async { Ok((vec![1], "same".to_string())) });
        let err = stuck.await.unwrap_err();
        assert!(err.to_string().contains("repeated page token"), "{err}");
    }

    #[tokio::test]
    async fn paginate_stops_at_the_first_error() {
        let mut calls = 0;
        let failing = paginate(|_| {
            calls += 1;
            async { anyhow::Result::<(Vec<u8>, String)>::Err(anyhow::anyhow!("down")) }
        });
        assert!(failing.await.is_err());
        assert_eq!(calls, 1);
    }
}
