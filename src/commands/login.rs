//! `prisn login HOST -u USER --password-stdin`: check the credentials against the registry
//! and keep them in `$PRISN_HOME/auth.json` (Docker's format, mode 0600).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use prisn_builder::image::Registries;
use prisn_builder::image::auth::{self, AuthFiles};

use super::home;
use crate::cli::{Global, LoginArgs};
use crate::printer;
use prisn::image::runtime;

pub fn run(_global: &Global, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let home = home()?;
    let file = home.root().join("auth.json");
    let registry = auth::normalize_key(&args.server);
    if args.logout {
        if auth::remove(&file, &registry)? {
            printer::note(format!(
                "removed the credentials for {registry} from {}",
                file.display()
            ));
        } else {
            printer::note(format!(
                "{} held no credentials for {registry}",
                file.display()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let user = args
        .username
        .clone()
        .context("give the user name with -u USER")?;
    let password = match (&args.password, args.password_stdin) {
        (_, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (Some(p), false) => p.clone(),
        (None, false) => {
            bail!("give the password on stdin with --password-stdin (or with --password)")
        }
    };
    // Check against the registry with only these credentials in play.
    let scratch = tempfile::tempdir()?;
    let probe_file = scratch.path().join("auth.json");
    auth::store(&probe_file, &registry, &user, &password)?;
    let mut opts = prisn::settings::registry_options(
        &home,
        &prisn::context::Config::load(&home)?,
        &(&args.transport).into(),
        false,
    );
    opts.auth = AuthFiles {
        files: vec![probe_file],
    };
    opts.retries = 1;
    match runtime()?.block_on(Registries::new(opts).check_login(&registry)) {
        Ok(()) => {}
        Err(prisn_builder::Error::Unauthorized { .. }) => {
            bail!("{registry} refused the password of user {user:?}; nothing was stored")
        }
        Err(e) => return Err(e.into()),
    }
    auth::store(&file, &registry, &user, &password)?;
    printer::note(format!(
        "logged in to {registry}; credentials kept in {}",
        file.display()
    ));
    Ok(ExitCode::SUCCESS)
}
