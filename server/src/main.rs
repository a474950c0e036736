use clap::Parser;

use app::server::s3::{CorsRule, S3Client};
use app::server::{bucket_setup, db, doctor, uploads, Config};
use server::cli::{BucketAction, Cli, Command};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(command: Command, config: Config) -> Result<i32, Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let options = server::leptos_options();
            let addr = options.site_addr;
            let state = server::build_state(config, options).await?;
            server::spawn_reconciler(state.clone());
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("s3drop is serving at http://{addr}");
            axum::serve(listener, server::router(state)).await?;
        }
        Command::Migrate => {
            db::connect(&config.database_url).await?;
            println!("migrations applied");
        }
        Command::Bucket { action: BucketAction::ApplyCors } => {
            let client = S3Client::new(config.s3.bucket());
            let before = client.get_bucket_cors().await?;
            let rule = CorsRule::for_browser_uploads(&config.public_url);
            if before == [rule.clone()] {
                println!("CORS of bucket {}: unchanged, already allows {}", config.s3.bucket, config.public_url);
            } else {
                client.put_bucket_cors(&[rule]).await?;
                println!(
                    "CORS of bucket {}: {} rule(s) replaced by one allowing {} (GET, HEAD, POST, PUT; all headers; expose ETag)",
                    config.s3.bucket,
                    before.len(),
                    config.public_url
                );
            }
        }
        Command::Bucket { action: BucketAction::ApplyLifecycle } => {
            let client = S3Client::new(config.s3.bucket());
            let before = client.get_bucket_lifecycle().await?;
            let ids = |x: &str| app::server::s3::xml::all(x, "ID").join(", ");
            client.put_bucket_lifecycle(bucket_setup::LIFECYCLE_XML).await?;
            println!(
                "lifecycle of bucket {}: [{}] replaced by [{}]",
                config.s3.bucket,
                before.as_deref().map(ids).unwrap_or_default(),
                ids(bucket_setup::LIFECYCLE_XML)
            );
        }
        Command::Doctor => {
            let checks = doctor::run(&config).await;
            for c in &checks {
                println!("{c}");
            }
            return Ok(if checks.iter().all(|c| c.ok) { 0 } else { 1 });
        }
        Command::Reconcile => {
            let pool = db::connect(&config.database_url).await?;
            let r = uploads::reconcile(&pool, &S3Client::new(config.s3.bucket()), 10_000).await?;
            println!("reconciled: {} completed, {} expired, {} failed, {} errors", r.completed, r.expired, r.failed, r.errors);
        }
    }
    Ok(0)
}
