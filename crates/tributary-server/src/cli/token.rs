//! `tributary token create | list | revoke`: API tokens, against a running server (gRPC
//! `Admin`, with an admin token) or, with `--data-dir`, directly on a store no server holds:
//! the way to make the first admin token of a new deployment (see docs/auth.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tributary_grpc::{proto, token_message};
use tributary_service::{Service, parse_expiry};

use super::StoreArgs;
use super::remote::{RemoteArgs, channel};

#[derive(Subcommand)]
pub(super) enum TokenAction {
    /// Create a token and print it (shown this once).
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List(TargetArgs),
    /// Revoke a token at once.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub(super) struct TargetArgs {
    /// Work on this store directly instead of a server (the server must not be running on it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Args)]
pub(super) struct CreateArgs {
    /// A name for people: what uses the token (`airflow-prod`, `sales-domain-ci`).
    #[arg(long)]
    name: String,
    /// A scope; repeat for several: `read`, `ingest`, `ingest@jobs=airflow-sales;datasets=postgres://sales*`,
    /// `domain:sales`, `admin`.
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
    /// Expiry (RFC 3339); never by default.
    #[arg(long)]
    expires_at: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Args)]
pub(super) struct RevokeArgs {
    /// The token's id (16 hex digits, as `token list` shows; the part after `trb_`).
    id: String,
    #[command(flatten)]
    target: TargetArgs,
}

/// Opens the store at `dir` as the local operator (whoever can read the directory).
async fn local(dir: &std::path::Path) -> anyhow::Result<Service> {
    let config = StoreArgs { data_dir: dir.to_path_buf(), cache_mb: 64 }.service_config();
    let shown = dir.display().to_string();
    let service = tokio::task::spawn_blocking(move || Service::open(config))
        .await?
        .with_context(|| format!("opening the store in `{shown}`"))?;
    Ok(service.as_local_operator())
}

async fn close(service: Service) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || service.close()).await?;
    Ok(())
}

fn print_token(token: &proto::Token) {
    let state = if !token.revoked_at.is_empty() {
        format!("revoked {}", token.revoked_at)
    } else if !token.expires_at.is_empty() {
        format!("expires {}", token.expires_at)
    } else {
        "active".to_owned()
    };
    let used =
        if token.last_used_at.is_empty() { "never used".to_owned() } else { format!("used {}", token.last_used_at) };
    println!(
        "{}  {}  [{}]  {state}  created {} by {}  {used}",
        token.id,
        token.name,
        token.scopes.join(" "),
        token.created_at,
        token.created_by
    );
}

pub(super) async fn run(action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Create(args) => {
            let (token, details) = match &args.target.data_dir {
                Some(dir) => {
                    let service = local(dir).await?;
                    let expires_at = parse_expiry(args.expires_at.as_deref().unwrap_or(""))?;
                    let created = service.create_token(args.name, args.scopes, expires_at).await;
                    close(service).await?;
                    let created = created?;
                    (created.token, token_message(created.view))
                }
                None => {
                    let mut client = proto::admin_client::AdminClient::new(channel(&args.target.remote).await?);
                    let answer = client
                        .create_token(proto::CreateTokenRequest {
                            name: args.name,
                            scopes: args.scopes,
                            expires_at: args.expires_at.unwrap_or_default(),
                        })
                        .await
                        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
                        .into_inner();
                    (answer.token, answer.details.unwrap_or_default())
                }
            };
            // The secret on stdout alone (for scripts); the rest on stderr.
            eprintln!("created token {} ({}) with scopes {}", details.id, details.name, details.scopes.join(" "));
            eprintln!("store it now: it is not shown again");
            println!("{token}");
        }
        TokenAction::List(target) => {
            let tokens = match &target.data_dir {
                Some(dir) => {
                    let service = local(dir).await?;
                    let tokens = service.tokens();
                    close(service).await?;
                    tokens?.into_iter().map(token_message).collect()
                }
                None => {
                    let mut client = proto::admin_client::AdminClient::new(channel(&target.remote).await?);
                    client
                        .list_tokens(proto::ListTokensRequest {})
                        .await
                        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
                        .into_inner()
                        .tokens
                }
            };
            for token in &tokens {
                print_token(token);
            }
        }
        TokenAction::Revoke(args) => {
            let token = match &args.target.data_dir {
                Some(dir) => {
                    let service = local(dir).await?;
                    let revoked = service.revoke_token(args.id).await;
                    close(service).await?;
                    token_message(revoked?)
                }
                None => {
                    let mut client = proto::admin_client::AdminClient::new(channel(&args.target.remote).await?);
                    client
                        .revoke_token(proto::RevokeTokenRequest { id: args.id })
                        .await
                        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
                        .into_inner()
                }
            };
            print_token(&token);
        }
    }
    Ok(())
}
