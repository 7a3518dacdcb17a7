//! `pretrainlab reproduce NAME` and `pretrainlab audit`: the presets and the claims of
//! `pretrainlab_papers`, run with the command line's settings, progress and Ctrl-C
//! handling.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use pretrainlab_papers::audit::AuditOutcome;
use pretrainlab_papers::{Options, PaperError, PresetOutcome};

use crate::experiments::{self, Interrupted, STOP};
use crate::progress::ExperimentProgress;
use crate::{ExperimentSettings, input_error};

/// `pretrainlab reproduce NAME`.
pub fn reproduce(name: &str, settings: &ExperimentSettings) -> Result<()> {
    let preset = pretrainlab_papers::find(name).ok_or_else(|| {
        input_error(format!(
            "unknown preset `{name}`; `pretrainlab reproduce --list` lists them"
        ))
    })?;
    let output = settings.output.clone().unwrap_or_else(|| {
        experiments::quick_folder(&PathBuf::from("results").join(preset.name), settings.quick)
    });
    let ctx = experiments::context(settings)?;
    experiments::install_interrupt_handler();
    let progress = ExperimentProgress::new(ctx.quiet);
    let start = Instant::now();
    let outcome = pretrainlab_papers::run(
        &preset,
        &Options {
            output: output.clone(),
            fresh: ctx.fresh,
            quick: ctx.quick,
            stop: &STOP,
            progress: &progress,
            limits: ctx.limits,
            shard: ctx.shard,
        },
    )
    .map_err(|e| paper_error(e, settings, "the default results/<preset>"))?;
    let secs = start.elapsed().as_secs_f64();
    match outcome {
        PresetOutcome::Interrupted {
            part,
            units_done,
            units_total,
        } => {
            let hint = again(
                format!("pretrainlab reproduce {}", preset.name),
                settings,
                &output,
            );
            let folder = if part.is_empty() {
                output.clone()
            } else {
                output.join(part)
            };
            Err(Interrupted(format!(
                "interrupted: {units_done} of {units_total} units are stored in {}; resume with `{hint}`",
                folder.display()
            ))
            .into())
        }
        PresetOutcome::Shard {
            units_run,
            units_missing,
            units_total,
        } => {
            let plain = again(
                format!("pretrainlab reproduce {}", preset.name),
                settings,
                &output,
            );
            experiments::print_shard(&ctx, units_run, units_missing, units_total, &output, &plain);
            Ok(())
        }
        PresetOutcome::Finished { parts, files } => {
            for (part, f) in preset.parts.iter().zip(&parts) {
                let name = if part.folder.is_empty() {
                    preset.name.to_string()
                } else {
                    format!("{}/{}", preset.name, part.folder)
                };
                experiments::print_finished(&name, f, secs, ctx.threads);
            }
            if !files.is_empty() {
                let mut text = format!(
                    "{}: the paper's panels in {}:\n",
                    preset.name,
                    output.display()
                );
                for f in &files {
                    text.push_str(&format!("  {f}\n"));
                }
                print!("{text}");
            }
            Ok(())
        }
    }
}

/// The command that runs `base` again on the same folder: with `--quick` and `--output`
/// when they were given (to resume, or to assemble after shards).
fn again(base: String, settings: &ExperimentSettings, output: &std::path::Path) -> String {
    let mut command = base;
    if settings.quick {
        command.push_str(" --quick");
    }
    if settings.output.is_some() {
        command.push_str(&format!(" --output {}", output.display()));
    }
    command
}

/// Maps a preset's or the audit's error to the CLI's, naming the folder setting.
fn paper_error(e: PaperError, settings: &ExperimentSettings, default: &str) -> anyhow::Error {
    match e {
        PaperError::Store(e) => {
            let setting = if settings.output.is_some() {
                "--output"
            } else {
                default
            };
            experiments::store_error(e, setting)
        }
        PaperError::Post(message) if message.contains("--model") => input_error(message),
        other => anyhow::Error::new(other),
    }
}

/// `pretrainlab audit [--model NAME]…`.
pub fn audit(models: &[String], settings: &ExperimentSettings) -> Result<()> {
    let output = settings.output.clone().unwrap_or_else(|| {
        experiments::quick_folder(&PathBuf::from("results/audit"), settings.quick)
    });
    let ctx = experiments::context(settings)?;
    experiments::install_interrupt_handler();
    let progress = ExperimentProgress::new(ctx.quiet);
    let outcome = pretrainlab_papers::audit::run(
        models,
        &Options {
            output: output.clone(),
            fresh: ctx.fresh,
            quick: ctx.quick,
            stop: &STOP,
            progress: &progress,
            limits: ctx.limits,
            shard: ctx.shard,
        },
    )
    .map_err(|e| paper_error(e, settings, "the default results/audit"))?;
    let base: String = std::iter::once("pretrainlab audit".to_string())
        .chain(models.iter().map(|m| format!("--model {m}")))
        .collect::<Vec<_>>()
        .join(" ");
    let command = again(base, settings, &output);
    match outcome {
        AuditOutcome::Interrupted {
            claim,
            units_done,
            units_total,
        } => {
            Err(Interrupted(format!(
                "interrupted: {units_done} of {units_total} units of the instance of `{claim}` are stored in {}; resume with `{command}`",
                output.display()
            ))
            .into())
        }
        AuditOutcome::Shard {
            units_run,
            units_missing,
            units_total,
        } => {
            experiments::print_shard(&ctx, units_run, units_missing, units_total, &output, &command);
            Ok(())
        }
        AuditOutcome::Finished { rows, files } => {
            print!("{}", pretrainlab_experiment::text::audit_table(&rows));
            let mut text = format!("audit: written to {}:\n", output.display());
            for f in &files {
                text.push_str(&format!("  {f}\n"));
            }
            print!("{text}");
            Ok(())
        }
    }
}

/// The `reproduce --list` text: one line per preset.
pub fn list() -> String {
    let presets = pretrainlab_papers::all();
    let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
    presets
        .iter()
        .map(|p| format!("{:<width$}  {}\n", p.name, p.summary))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_one_line_per_preset() {
        assert_eq!(list().lines().count(), pretrainlab_papers::all().len());
        assert!(list().contains("factor-demo"));
    }
}
