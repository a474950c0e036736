use clap::Parser;

use app::domain::{Email, Password};
use app::model::Role;
use app::server::bucket_setup::CorsChange;
use app::server::db::users::CreateError;
use app::server::{auth, bucket_setup, db, doctor, uploads, Config};
use server::cli::{BucketAction, Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            server::precompress_bundle(&options).await;
            let state = server::build_state(config, options).await?;
            server::spawn_reconciler(state.clone());
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("s3drop is serving at http://{addr}");
            if let Some(invite) = state.admin_invite.lock().unwrap().as_ref() {
                println!("No administrator yet: create one at {}/signup?invite={invite}", state.config.public_url);
            }
            server::serve(listener, state).await?;
        }
        Command::Migrate => {
            db::connect(&config.database_url).await?;
            println!("migrations applied");
        }
        Command::Bucket { action: BucketAction::ApplyCors } => {
            let client = config.s3.client();
            match bucket_setup::apply_cors(&client, &config.public_url).await? {
                CorsChange::Unchanged => {
                    println!("CORS of bucket {}: unchanged, already allows {}", config.s3.bucket, config.public_url)
                }
                CorsChange::Added { kept } => println!(
                    "CORS of bucket {}: added a rule allowing {} (GET, HEAD, POST, PUT; all headers; expose ETag); \
                     {kept} other rule(s) kept",
                    config.s3.bucket, config.public_url
                ),
            }
        }
        Command::Bucket { action: BucketAction::ApplyLifecycle } => {
            let client = config.s3.client();
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
        Command::CreateUser { email, admin } => {
            let email = Email::parse(&email).map_err(|_| format!("{email:?} is not an email address"))?;
            let password = Password::new(read_password()?)
                .map_err(|_| format!("the password must have at least {} characters", app::domain::MIN_PASSWORD_LEN))?;
            let pool = db::connect(&config.database_url).await?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = match db::users::create(&pool, &email, role, &auth::hash_password(password.as_str())).await {
                Ok(user) => user,
                Err(CreateError::EmailTaken) => {
                    return Err(format!("could not create {email}: an account with this email exists already").into())
                }
                Err(CreateError::Db(e)) => return Err(e.into()),
            };
            println!("created {} ({role})", user.email);
        }
        Command::SetRole { email, role } => {
            let email = Email::parse(&email).map_err(|_| format!("{email:?} is not an email address"))?;
            let pool = db::connect(&config.database_url).await?;
            let Some(user) = db::users::set_role(&pool, &email, role).await? else {
                return Err(format!("no account has the email {email}").into());
            };
            let ended = db::sessions::revoke_all_for_user(&pool, &user.id).await?;
            println!("{} is now {role}; {ended} session(s) signed out", user.email);
        }
        Command::Doctor => {
            let checks = doctor::run(&config).await;
            for c in &checks {
                println!("{c}");
            }
            return Ok(if checks.iter().all(|c| c.ok) { 0 } else { 1 });
        }
        Command::Counts { repair } => {
            let pool = db::connect(&config.database_url).await?;
            let drift = db::counts::check(&pool).await?;
            for m in &drift {
                println!(
                    "owner {} day {} {}: counted {} uploads, {} bytes; the rows say {} uploads, {} bytes",
                    m.owner,
                    app::dates::iso_minutes(m.day),
                    m.status,
                    m.counted.0,
                    m.counted.1,
                    m.actual.0,
                    m.actual.1
                );
            }
            match (drift.is_empty(), repair) {
                (true, _) => println!("counts agree with the rows"),
                (false, true) => {
                    db::counts::rebuild(&pool).await?;
                    println!("{} count(s) disagreed; rewritten from the rows", drift.len());
                }
                (false, false) => {
                    println!("{} count(s) disagree with the rows; `server counts --repair` rewrites them", drift.len());
                    std::process::exit(1);
                }
            }
        }
        Command::Reconcile => {
            let pool = db::connect(&config.database_url).await?;
            let s3 = config.s3.client();
            let r = uploads::reconcile(&pool, &s3, 10_000).await?;
            println!(
                "reconciled: {} completed, {} expired, {} failed, {} errors; {} cancelled keys cleared",
                r.completed, r.expired, r.failed, r.errors, r.cleared
            );
            // The whole bucket, page after page: objects without a row are recorded.
            let (mut listed, mut recorded, mut unowned, mut errors) = (0, 0, 0, 0);
            let mut after: Option<String> = None;
            loop {
                let (page, next) = uploads::sweep(&pool, &s3, &uploads::SweepPage::uploads(after.as_deref())).await?;
                (listed, recorded, unowned, errors) =
                    (listed + page.listed, recorded + page.recorded, unowned + page.unowned, errors + page.errors);
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            println!(
                "swept the bucket: {listed} objects, {recorded} without a row recorded, {unowned} not ours, {errors} errors"
            );
        }
    }
    Ok(0)
}

/// From a prompt (twice) on a terminal, else the first line of standard input. Never from argv.
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Again: ")? != first {
            return Err("the two passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
