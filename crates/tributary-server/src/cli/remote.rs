//! Clients of a running server over gRPC: `check` (the change check for CI) and
//! `product apply` / `domain apply`; [`RemoteArgs`] and [`channel`] are shared with `token`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

/// Where the server is and the token to call it with.
#[derive(Args, Clone)]
pub(crate) struct RemoteArgs {
    /// The server's address.
    #[arg(long, env = "TRIBUTARY_SERVER", default_value = "http://127.0.0.1:5055")]
    pub(crate) server: String,
    /// API token (`trb_…`) sent as `Authorization: Bearer`; needed once the server has tokens.
    #[arg(long, env = "TRIBUTARY_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// For an `https://` server: a PEM file of the CA that signed its certificate, trusted
    /// besides the system's roots.
    #[arg(long, env = "TRIBUTARY_CA_CERT", value_name = "PEM")]
    pub(crate) ca_cert: Option<PathBuf>,
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub(crate) type AuthedChannel = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// A channel to the server that sends the token with every call.
pub(crate) async fn channel(remote: &RemoteArgs) -> anyhow::Result<AuthedChannel> {
    let bearer = match &remote.token {
        Some(token) => Some(
            format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| anyhow::anyhow!("the token holds characters a header cannot carry"))?,
        ),
        None => None,
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(remote.server.clone())
        .with_context(|| format!("`{}` is not a server address", remote.server))?;
    if remote.server.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
        if let Some(path) = &remote.ca_cert {
            let pem =
                std::fs::read(path).with_context(|| format!("reading the CA certificate `{}`", path.display()))?;
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls).context("configuring TLS")?;
    }
    let channel = endpoint.connect().await.with_context(|| format!("connecting to {}", remote.server))?;
    Ok(tonic::service::interceptor::InterceptedService::new(channel, Bearer(bearer)))
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Markdown,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProposedFormat {
    /// OpenLineage `schema` facet JSON.
    Openlineage,
    /// dbt models YAML with a contract.
    Dbt,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    /// Exit 1 when any change is BREAKING.
    Breaking,
    /// Exit 1 when any change is RISKY or BREAKING.
    Risky,
    /// Always exit 0 when the check ran.
    Never,
}

#[derive(Args)]
pub(super) struct CheckArgs {
    /// Namespace of the dataset whose schema changes.
    #[arg(long)]
    namespace: String,
    /// Name of the dataset.
    #[arg(long)]
    name: String,
    /// The proposed schema: OpenLineage schema facet JSON, or a dbt YAML (`.yml`/`.yaml`).
    #[arg(long)]
    schema: PathBuf,
    /// Override the format guessed from the file name.
    #[arg(long, value_enum)]
    format: Option<ProposedFormat>,
    /// With a dbt file: the model to check when it declares several.
    #[arg(long)]
    dbt_model: Option<String>,
    #[arg(long, value_enum, default_value = "markdown")]
    output: OutputFormat,
    /// When to exit with status 1.
    #[arg(long, value_enum, default_value = "breaking")]
    fail_on: FailOn,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Subcommand)]
pub(super) enum ApplyAction {
    /// Apply a descriptor (YAML or JSON) to a running server.
    Apply(ApplyArgs),
}

#[derive(Args)]
pub(crate) struct ApplyArgs {
    /// The descriptor file (`-` for standard input).
    #[arg(short = 'f', long = "file")]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) remote: RemoteArgs,
}

/// `tributary product apply` / `tributary domain apply`: sends the descriptor over gRPC and
/// prints the outcome; a policy rejection prints every reason and exits with 2.
pub(super) async fn apply(args: ApplyArgs, product: bool) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let descriptor = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading `{}`", args.file.display()))?
    };
    let mut client = tributary_grpc::proto::mesh_client::MeshClient::new(channel(&args.remote).await?);
    let request = tributary_grpc::proto::ApplyRequest { descriptor };
    let kind = if product { "product" } else { "domain" };
    let answer = if product { client.apply_product(request).await } else { client.apply_domain(request).await };
    match answer {
        Ok(response) => {
            let response = response.into_inner();
            if response.changed {
                println!("{kind} `{}` applied as version {}", response.id, response.version);
            } else {
                println!("{kind} `{}` unchanged (version {})", response.id, response.version);
            }
            for violation in &response.violations {
                println!("  warning [{}] {}: {}", violation.policy, violation.subject, violation.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument | tonic::Code::PermissionDenied
            ) =>
        {
            eprintln!("{kind} rejected: {}", status.message());
            Ok(ExitCode::from(2))
        }
        Err(status) => Err(anyhow::anyhow!("{kind} apply failed: {}", status.message())),
    }
}

/// The largest check report `tributary check` takes: above what the server sends
/// ([`tributary_grpc::MAX_ANSWER_BYTES`]). The report of a change of the bench mesh's hub
/// is 22 MB of JSON at 100k and 96 MB at 1M (every affected dataset and job listed); tonic's
/// default is 4 MiB.
const MAX_REPORT_BYTES: usize = 1 << 30;

/// `tributary check`: exit 0 when the check passes, 1 when the threshold is met, 2 when the
/// check could not run (bad input, unknown dataset, server unreachable).
pub(super) async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let schema =
        std::fs::read_to_string(&args.schema).with_context(|| format!("reading `{}`", args.schema.display()))?;
    let is_yaml = args.schema.extension().is_some_and(|ext| ext == "yml" || ext == "yaml");
    let format = match args.format {
        Some(ProposedFormat::Dbt) => tributary_grpc::proto::SchemaFormat::Dbt,
        Some(ProposedFormat::Openlineage) => tributary_grpc::proto::SchemaFormat::Openlineage,
        None if is_yaml => tributary_grpc::proto::SchemaFormat::Dbt,
        None => tributary_grpc::proto::SchemaFormat::Openlineage,
    };
    let mut client = tributary_grpc::proto::changes_client::ChangesClient::new(channel(&args.remote).await?)
        .max_decoding_message_size(MAX_REPORT_BYTES);
    let response = client
        .check_change(tributary_grpc::proto::CheckChangeRequest {
            namespace: args.namespace,
            name: args.name,
            schema,
            format: format as i32,
            dbt_model: args.dbt_model.unwrap_or_default(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    match args.output {
        OutputFormat::Markdown => print!("{}", response.markdown),
        OutputFormat::Json => println!("{}", response.report_json),
    }
    let failed = match args.fail_on {
        FailOn::Breaking => response.verdict == "BREAKING",
        FailOn::Risky => response.verdict == "BREAKING" || response.verdict == "RISKY",
        FailOn::Never => false,
    };
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
