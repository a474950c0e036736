use clap::Parser;

use app::server::s3::{CorsRule, S3Client};
use app::server::Config;
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
    if let Err(e) = run(cli.command.unwrap_or(Command::Serve), config).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let options = server::leptos_options();
            let addr = options.site_addr;
            let state = server::build_state(config, options).await?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("s3drop is serving at http://{addr}");
            axum::serve(listener, server::router(state)).await?;
        }
        Command::Migrate => {
            app::server::db::connect(&config.database_url).await?;
            println!("migrations applied");
        }
        Command::Bucket { action: BucketAction::ApplyCors } => {
            let client = S3Client::new(config.s3.bucket());
            let before = client.get_bucket_cors().await?;
            let rule = CorsRule::for_browser_uploads(&config.public_url);
            if before == [rule.clone()] {
                println!("CORS of bucket {} already allows {}: unchanged", config.s3.bucket, config.public_url);
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
    }
    Ok(())
}
