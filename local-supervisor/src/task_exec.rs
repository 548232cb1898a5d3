//! `meshtest-local task-exec [--hosts FILE] [--dir DIR] -- PROGRAM ARGS...`: how a service's own
//! program starts. With `--hosts` it first enters a mount namespace of its own (and a user
//! namespace when not root) where `FILE` is bind-mounted over `/etc/hosts`, so the Service
//! Connect names resolve to their 127.255.0.0/16 addresses as ECS writes them into a task's
//! `/etc/hosts` (Amazon ECS Developer Guide, "Service Connect components"); then it moves to
//! `DIR` and replaces itself with the program (exec: same pid, same process group, same
//! environment, so the marker and the supervisor's signals reach the program itself).
//!
//! A process of its own rather than code between fork and exec in the supervisor: the
//! workspace forbids `unsafe`, which `pre_exec` needs, and `unshare(CLONE_NEWUSER)` needs a
//! single-threaded process, which this is at this point and the supervisor (tokio) is not.
//! `nix` (its `sched`, `mount` and `user` features) makes each call safe.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid, getgid, getuid};

/// The switch that turns the namespaces off (`off`), for machines or tests that want the
/// `HTTP_PROXY` fallback.
pub(crate) const NAMESPACES_ENV: &str = "MESHTEST_LOCAL_NAMESPACES";

/// Enters the namespace with `hosts` as `/etc/hosts` (when given), moves to `dir`, and execs
/// `argv`; returns only on failure.
pub(crate) fn run(hosts: Option<&Path>, dir: Option<&Path>, argv: &[OsString]) -> anyhow::Error {
    if let Some(hosts) = hosts
        && let Err(err) = enter(hosts)
    {
        return err;
    }
    if let Some(dir) = dir
        && let Err(err) = std::env::set_current_dir(dir)
    {
        return anyhow::Error::new(err).context(format!(
            "cannot run in the working directory {}: check `local.workingDirectory`",
            dir.display()
        ));
    }
    let Some((program, args)) = argv.split_first() else {
        return anyhow::anyhow!("no program to run");
    };
    let err = std::process::Command::new(program).args(args).exec();
    let hint = match err.kind() {
        std::io::ErrorKind::NotFound => {
            ": no such program on PATH or at that path; check `local.command`"
        }
        std::io::ErrorKind::PermissionDenied => ": it is not executable; check `local.command`",
        _ => "",
    };
    anyhow::Error::new(err).context(format!("cannot run `{}`{hint}", program.to_string_lossy()))
}

/// A mount namespace (and a user namespace when not root, mapping this user to itself) with
/// `hosts` bind-mounted over `/etc/hosts`; mounts made here do not reach the machine.
fn enter(hosts: &Path) -> anyhow::Result<()> {
    let (uid, gid) = (getuid(), getgid());
    let root = uid.is_root();
    let flags = if root {
        CloneFlags::CLONE_NEWNS
    } else {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS
    };
    unshare(flags).context(
        "cannot create the task's namespaces (unprivileged user namespaces may be off: kernel.unprivileged_userns_clone or a security profile); deploy with MESHTEST_LOCAL_NAMESPACES=off to use HTTP_PROXY instead",
    )?;
    if !root {
        map_ids(uid, gid)?;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make the task's mounts private")?;
    mount(
        Some(hosts),
        "/etc/hosts",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("cannot bind {} over /etc/hosts", hosts.display()))
}

/// This user (and group) is itself inside the new user namespace (setgroups denied first, as
/// an unprivileged gid_map needs).
fn map_ids(uid: Uid, gid: Gid) -> anyhow::Result<()> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .with_context(|| format!("cannot write /proc/self/{file}"))
    };
    write("uid_map", format!("{uid} {uid} 1\n"))?;
    write("setgroups", "deny".to_owned())?;
    write("gid_map", format!("{gid} {gid} 1\n"))
}

/// Whether tasks can get their own `/etc/hosts` here: not when `MESHTEST_LOCAL_NAMESPACES` is
/// `off`, else by running `exe task-exec --hosts` once with a file of `logs` (`Err`: why not).
pub(crate) fn available(exe: &Path, logs: &Path) -> Result<(), String> {
    if std::env::var(NAMESPACES_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        return Err(format!("{NAMESPACES_ENV}=off"));
    }
    if !cfg!(target_os = "linux") {
        return Err("namespaces are Linux's".to_owned());
    }
    let probe: PathBuf = logs.join("namespaces-probe.hosts");
    let probed = std::fs::write(&probe, "127.0.0.1\tlocalhost\n")
        .map_err(|e| format!("cannot write {}: {e}", probe.display()))
        .and_then(|()| {
            std::process::Command::new(exe)
                .arg("task-exec")
                .arg("--hosts")
                .arg(&probe)
                .args(["--", "true"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", exe.display()))
        });
    let _ = std::fs::remove_file(&probe);
    let out = probed?;
    if out.status.success() {
        Ok(())
    } else {
        let said = String::from_utf8_lossy(&out.stderr);
        Err(said.lines().last().unwrap_or("it failed").trim().to_owned())
    }
}
