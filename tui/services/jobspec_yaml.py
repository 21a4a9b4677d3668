"""Job specs as YAML files, in the format `gcloud ai custom-jobs create --config FILE` reads.

That file is a CustomJobSpec (`workerPoolSpecs` with `machineSpec`, `replicaCount`,
`pythonPackageSpec`/`containerSpec`, `diskSpec`; `baseOutputDirectory`; `scheduling`; ...) in
camelCase; the display name, region and labels are command-line flags there, so they are
arguments here. A whole CustomJob (`displayName:` + `jobSpec:`, as `gcloud ai custom-jobs
describe` prints it) loads too; its output-only fields (state, times, error) are ignored.

Keys in snake_case are read as their camelCase names, as the REST API does (with a note: gcloud
itself wants camelCase). Every problem in the file is reported at once, each with file, line and field path
(`train.yaml:7: workerPoolSpecs[0].machineSpec.acceleratorCount: ...`); nothing is submitted
until the file is clean. The schema is the one `hpconfig` uses for trialJobSpec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tui.services import yaml_lines as yl
from tui.services.hpconfig import VERTEX_SCHEMAS
from tui.services.job_models import JobSpec
from tui.services.jobs import spec_from_job_spec, spec_to_job_spec, validate_job_spec
from tui.services.yaml_lines import YamlProblem

CUSTOM_JOB_SCHEMAS: dict[str, yl.MessageSchema] = {
    **VERTEX_SCHEMAS,
    "CustomJob": yl.MessageSchema(
        {
            "displayName": yl.STR,
            "jobSpec": yl.Message("CustomJobSpec"),
            "labels": yl.StringMap(),
            "encryptionSpec": yl.Message("EncryptionSpec"),
        },
        output_only=frozenset(
            {
                "name",
                "state",
                "createTime",
                "startTime",
                "endTime",
                "updateTime",
                "error",
                "webAccessUris",
                "satisfiesPzs",
                "satisfiesPzi",
            }
        ),
    ),
}


@dataclass(frozen=True)
class JobSpecFile:
    """A loaded job spec and notes worth showing (keys renamed, fields ignored)."""

    spec: JobSpec
    notes: tuple[str, ...] = ()


class JobSpecFileError(yl.YamlInvalid):
    """The job spec file has errors (all of them in `errors`)."""

    title = "Invalid job spec"
    what = "job spec"


def load_job_spec(
    path: Path | str, *, display_name: str | None = None, region: str = "us-central1"
) -> JobSpecFile:
    """Read and validate a job spec file; the display name defaults to the file's stem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise JobSpecFileError(
            [
                YamlProblem(
                    path.name, None, "", f"cannot be read: {reason} ({path}). Check the path."
                )
            ]
        ) from exc
    return parse_job_spec(text, path.name, display_name=display_name or path.stem, region=region)


def parse_job_spec(
    text: str,
    filename: str = "job.yaml",
    *,
    display_name: str | None = None,
    region: str = "us-central1",
) -> JobSpecFile:
    """Validate YAML text into a JobSpec; JobSpecFileError lists every problem."""

    def fail(line: int | None, path: str, message: str) -> JobSpecFileError:
        return JobSpecFileError([YamlProblem(filename, line, path, message)])

    try:
        root = yl.compose(text)
    except yl.YamlSyntaxError as exc:
        raise fail(exc.line, "", f"invalid YAML: {exc.message}") from None
    if root is None:
        raise fail(1, "", "the file is empty; expected a CustomJobSpec (workerPoolSpecs: ...)")
    if not isinstance(root, yaml.MappingNode):
        raise fail(root.start_mark.line + 1, "", "must be a mapping with workerPoolSpecs: ...")
    keys = {str(k.value) for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    whole_job = "jobSpec" in keys or "job_spec" in keys
    reader = yl.Reader(CUSTOM_JOB_SCHEMAS)
    data: dict[str, Any] = (
        reader.read(root, yl.Message("CustomJob" if whole_job else "CustomJobSpec"), "") or {}
    )
    base = "jobSpec" if whole_job else ""
    job_spec: dict[str, Any] = (data.get("jobSpec") or {}) if whole_job else data
    notes = []
    if reader.snake_case_paths:
        shown = ", ".join(reader.snake_case_paths[:5])
        more = "…" if len(reader.snake_case_paths) > 5 else ""
        notes.append(
            "snake_case keys read as their camelCase names (the REST API accepts both; "
            f"gcloud's --config expects camelCase): {shown}{more}"
        )
    if reader.ignored_paths:
        notes.append(f"output-only fields ignored: {', '.join(reader.ignored_paths)}")

    def at(path: str) -> str:
        return yl.join(base, path) if path else base

    pools = job_spec.get("workerPoolSpecs")
    if not reader.present(at("workerPoolSpecs")):
        reader.problem(
            at("workerPoolSpecs"), "is required: at least one worker pool (the primary replica)"
        )
    reported: set[str] = set()
    for i, pool in enumerate(pools or []):
        path = at(f"workerPoolSpecs[{i}]")
        if i > 0 and not pool:
            continue
        if "machineSpec" not in pool or "machineType" not in (pool.get("machineSpec") or {}):
            reader.problem(f"{path}.machineSpec.machineType", "is required (e.g. n1-standard-4)")
            reported.add(f"{path}.machineSpec")
        if "pythonPackageSpec" not in pool and "containerSpec" not in pool:
            reader.problem(path, "needs a pythonPackageSpec (or a containerSpec)")
            reported.add(f"{path}.pythonPackageSpec")
        if "pythonPackageSpec" in pool and "containerSpec" in pool:
            reader.problem(path, "has both pythonPackageSpec and containerSpec: keep one")
    # Check the meaning too (hardware combinations, URIs...), except where a field is already
    # reported: the user gets every problem in one go.
    reported |= {p.path for p in reader.problems}
    name = str(data.get("displayName") or display_name or Path(filename).stem)
    try:
        spec = spec_from_job_spec(job_spec, name, region, data.get("labels"))
    except (TypeError, ValueError, AttributeError):
        raise _errors(filename, reader) from None
    for problem in validate_job_spec(spec):
        if problem.field in ("displayName", "labels") or problem.field.startswith("labels."):
            path = problem.field if whole_job else ""
        elif problem.field == "region":
            path = ""
        else:
            path = at(problem.field)
        if any(path.startswith(r) or r.startswith(path + ".") for r in reported if r):
            continue
        line = reader.line_of(path) if path else 0
        reader.problems.append(yl.Problem(line, path or problem.field, problem.message))
    if reader.problems:
        raise _errors(filename, reader)
    return JobSpecFile(spec, tuple(notes))


def _errors(filename: str, reader: yl.Reader) -> JobSpecFileError:
    problems = sorted(reader.problems, key=lambda p: (p.line, p.path))
    return JobSpecFileError(
        YamlProblem(filename, p.line or None, p.path, p.message) for p in problems
    )


def dump_job_spec(spec: JobSpec, *, whole_job: bool = False) -> str:
    """YAML for `gcloud ai custom-jobs create --config` (or a whole CustomJob with its
    display name and labels, `whole_job=True`)."""
    job_spec = spec_to_job_spec(spec)
    for pool in job_spec["workerPoolSpecs"]:
        pool["replicaCount"] = int(pool["replicaCount"])  # a number reads better than '1'
    if whole_job:
        body: dict[str, Any] = {"displayName": spec.display_name, "jobSpec": job_spec}
        if spec.labels:
            body["labels"] = dict(spec.labels)
        header = (
            f"# A Vertex AI CustomJob (region {spec.region}); load it in cloudpane's Jobs pane.\n"
        )
    else:
        body = job_spec
        labels = ",".join(f"{k}={v}" for k, v in spec.labels.items())
        header = (
            "# Vertex AI CustomJobSpec. Submit with:\n"
            f"#   gcloud ai custom-jobs create --region={spec.region} "
            f"--display-name={_shell_word(spec.display_name)} --config=THIS_FILE"
            + (f" --labels={labels}" if labels else "")
            + "\n"
        )
    return header + yaml.safe_dump(
        body, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def save_job_spec(spec: JobSpec, path: Path | str, *, whole_job: bool = False) -> Path:
    path = Path(path)
    path.write_text(dump_job_spec(spec, whole_job=whole_job), encoding="utf-8")
    return path


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)
