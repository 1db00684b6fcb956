//! Writes the CRD manifests generated from src/api/ to charts/entramail-operator/crds/, their one copy: helm installs
//! them from there, and the top-level crds/ is a symlink to that directory (for `kubectl apply -f crds/`, the tests
//! and the bench). This `--check` is the one staleness check (Makefile `crds-check`, run in CI).
//!
//! `cargo run --bin crdgen`            regenerate the files
//! `cargo run --bin crdgen -- --check` exit 1 if any file on disk is missing or differs (for CI)

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use entramail_operator::api::manifests::{all_crds, file_name, render_yaml};

const OUTPUT_DIRS: [&str; 1] = ["charts/entramail-operator/crds"];

#[derive(Debug, thiserror::Error)]
enum CrdgenError {
    #[error("rendering {file}: {source}")]
    Render {
        file: String,
        source: serde_norway::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unknown argument {0:?}; usage: crdgen [--check]")]
    Usage(String),
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, CrdgenError> {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            other => return Err(CrdgenError::Usage(other.to_owned())),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for crd in all_crds() {
        let file = file_name(&crd);
        let yaml = render_yaml(&crd).map_err(|source| CrdgenError::Render {
            file: file.clone(),
            source,
        })?;
        for dir in OUTPUT_DIRS {
            let path = root.join(dir).join(&file);
            let current = fs::read_to_string(&path).ok();
            if current.as_deref() == Some(yaml.as_str()) {
                continue;
            }
            if check {
                stale.push(path);
            } else {
                let parent = path.parent().unwrap_or(root);
                fs::create_dir_all(parent).map_err(|source| CrdgenError::Write {
                    path: parent.into(),
                    source,
                })?;
                fs::write(&path, &yaml).map_err(|source| CrdgenError::Write {
                    path: path.clone(),
                    source,
                })?;
                println!("wrote {}", path.display());
            }
        }
    }
    if stale.is_empty() {
        if check {
            println!("crdgen: CRD manifests are up to date");
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("crdgen: these CRD manifests are missing or differ from the types in src/api/:");
    for p in &stale {
        eprintln!("  {}", p.display());
    }
    eprintln!("run `cargo run --bin crdgen` and commit the result");
    Ok(ExitCode::FAILURE)
}
