"""Hyperparameter-tuning YAML: both formats into one spec, every error with its line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from tui.services import hpconfig as hp
from tui.services.errors import InvalidArgument
from tui.services.hpconfig import HpConfigInvalid, ParameterSpec
from tui.services.yaml_lines import YamlProblem

DATA = Path(__file__).parent / "data" / "hp"
ROOT = Path(__file__).resolve().parents[1]
METRICS = {"val_abs_rel", "val_rmse", "val_delta1", "val_loss"}


def errors_of(text: str, **kwargs: object) -> list[YamlProblem]:
    with pytest.raises(HpConfigInvalid) as caught:
        hp.parse_hp_config(dedent(text), "hptuning.yaml", **kwargs)  # type: ignore[arg-type]
    return caught.value.errors


def where(errors: list[YamlProblem]) -> list[tuple[int | None, str]]:
    return [(e.line, e.field_path) for e in errors]


def study(parameters: str, extra: str = "", top: str = "maxTrialCount: 4\n") -> str:
    """A valid Vertex file around the given (already indented) parameters block."""
    return (
        "studySpec:\n"
        "  metrics:\n"
        "    - metricId: val_loss\n"
        "      goal: MINIMIZE\n"
        "  parameters:\n" + parameters + extra + top
    )


LR = "    - parameterId: learning_rate\n      doubleValueSpec: {minValue: 0.001, maxValue: 0.1}\n"

# -- the two formats -------------------------------------------------------------------------


def test_vertex_and_legacy_files_parse_into_the_same_spec() -> None:
    vertex = hp.load_hp_config(DATA / "vertex_study.yaml", METRICS)
    legacy = hp.load_hp_config(DATA / "legacy_hptuning.yaml", METRICS)
    assert (vertex.source_format, legacy.source_format) == ("vertex", "legacy")
    same = dataclasses.replace(legacy, source_format="vertex", legacy_training_input=None)
    assert dataclasses.replace(same, conversion_notes=vertex.conversion_notes) == vertex
    assert hp.to_vertex_dict(legacy) == hp.to_vertex_dict(vertex)


def test_vertex_study_is_typed() -> None:
    spec = hp.load_hp_config(DATA / "vertex_study.yaml", METRICS)
    assert (spec.display_name, spec.metric_id, spec.goal) == (
        "depth-unet-tuning",
        "val_abs_rel",
        "MINIMIZE",
    )
    assert spec.parameters == (
        ParameterSpec("learning_rate", "DOUBLE", 0.0001, 0.01, (), "UNIT_LOG_SCALE"),
        ParameterSpec("base_filters", "INTEGER", 8, 32, (), "UNIT_LINEAR_SCALE"),
        ParameterSpec("batch_size", "DISCRETE", None, None, (8.0, 16.0, 32.0), None),
        ParameterSpec("lr_schedule", "CATEGORICAL", None, None, ("constant", "cosine"), None),
    )
    assert isinstance(spec.parameter("base_filters").min_value, int)
    assert (spec.algorithm, spec.max_trial_count, spec.parallel_trial_count) == (
        "ALGORITHM_UNSPECIFIED",
        12,
        3,
    )
    assert spec.max_failed_trial_count == 4
    assert spec.stopping_spec == {"medianAutomatedStoppingSpec": {"useElapsedDuration": False}}
    assert spec.trial_job_spec is None
    assert any("no trialJobSpec" in n for n in spec.conversion_notes)


def test_legacy_conversion_says_what_changed_and_keeps_the_machine_for_the_form() -> None:
    spec = hp.load_hp_config(DATA / "legacy_hptuning.yaml", METRICS)
    notes = "\n".join(spec.conversion_notes)
    assert "scaleTier CUSTOM has no Vertex AI equivalent" in notes
    assert "enableTrialEarlyStopping: true → studySpec.medianAutomatedStoppingSpec" in notes
    assert (
        "maxTrials → maxTrialCount" in notes and "maxParallelTrials → parallelTrialCount" in notes
    )
    assert "masterType n1-standard-8 with 1 × NVIDIA_TESLA_T4" in notes
    assert "jobDir gs://my-bucket/depth → trialJobSpec.baseOutputDirectory.outputUriPrefix" in notes
    assert "runtimeVersion 2.11" in notes and "jobId depth-unet-tuning → displayName" in notes
    assert spec.trial_job_spec is None
    assert spec.legacy_training_input is not None
    assert spec.legacy_training_input["masterType"] == "n1-standard-8"
    assert spec.legacy_training_input["args"] == ["--epochs=20"]
    assert "hyperparameters" not in spec.legacy_training_input


def test_converted_yaml_is_valid_vertex_yaml_that_reads_back_the_same() -> None:
    legacy = hp.load_hp_config(DATA / "legacy_hptuning.yaml")
    text = hp.to_vertex_yaml(legacy)
    assert "studySpec:" in text and "trainingInput" not in text and "trialJobSpec" not in text
    assert "    discreteValueSpec:\n      values:\n      - 8\n" in text
    again = hp.parse_hp_config(text, "converted.yaml")
    assert again.source_format == "vertex"
    assert hp.to_vertex_dict(again) == hp.to_vertex_dict(legacy)
    assert again.parameters == legacy.parameters


def test_vertex_file_with_its_own_trial_job_spec() -> None:
    spec = hp.load_hp_config(DATA / "vertex_full.yaml")
    assert spec.trial_job_spec == {
        "workerPoolSpecs": [
            {
                "machineSpec": {
                    "machineType": "n1-standard-4",
                    "acceleratorType": "NVIDIA_TESLA_T4",
                    "acceleratorCount": 1,
                },
                "replicaCount": 1,
                "containerSpec": {
                    "imageUri": "us-docker.pkg.dev/my-project/trainers/classifier:latest",
                    "args": ["--epochs=5"],
                },
            }
        ],
        "baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket/tuning"},
        "scheduling": {"timeout": "7200s"},
    }
    body = hp.to_vertex_dict(spec)
    assert body["trialJobSpec"] == spec.trial_job_spec
    assert body["studySpec"]["measurementSelectionType"] == "BEST_MEASUREMENT"
    assert spec.max_failed_trial_count == 0  # not set: Vertex AI decides


def test_snake_case_keys_are_read_as_camel_case_with_a_note() -> None:
    text = """\
    study_spec:
      metrics: [{metric_id: val_loss, goal: MINIMIZE}]
      parameters:
        - parameter_id: learning_rate
          double_value_spec: {min_value: 0.001, max_value: 0.1}
          scale_type: UNIT_LOG_SCALE
    max_trial_count: 6
    parallel_trial_count: 2
    """
    spec = hp.parse_hp_config(dedent(text), "snake.yaml")
    assert spec.parameters == (
        ParameterSpec("learning_rate", "DOUBLE", 0.001, 0.1, (), "UNIT_LOG_SCALE"),
    )
    assert (spec.max_trial_count, spec.parallel_trial_count) == (6, 2)
    assert any("snake_case keys" in n and "studySpec" in n for n in spec.conversion_notes)


def test_exponent_without_a_dot_is_a_number_not_a_string() -> None:
    # YAML 1.1 (PyYAML) reads 1e-4 as a string; Vertex's JSON takes it as a number
    spec = hp.parse_hp_config(
        study(
            "    - parameterId: learning_rate\n      doubleValueSpec: {minValue: 1e-4, maxValue: 1e-2}\n"
        )
    )
    assert spec.parameters[0].min_value == pytest.approx(1e-4)


def test_output_only_fields_of_a_describe_output_are_ignored() -> None:
    spec = hp.parse_hp_config(
        study(LR, top="maxTrialCount: 4\nstate: JOB_STATE_SUCCEEDED\nname: projects/p/x\n")
    )
    assert any("ignored output-only fields" in n and "state" in n for n in spec.conversion_notes)


def test_legacy_defaults_are_applied_and_noted() -> None:
    text = """\
    trainingInput:
      hyperparameters:
        params:
          - parameterName: learning_rate
            type: DOUBLE
            minValue: 0.001
            maxValue: 0.1
            scaleType: NONE
    """
    spec = hp.parse_hp_config(dedent(text))
    assert (spec.goal, spec.metric_id) == ("MAXIMIZE", "training/hptuning/metric")
    assert (spec.max_trial_count, spec.parallel_trial_count) == (1, 1)
    assert spec.parameters[0].scale is None
    notes = "\n".join(spec.conversion_notes)
    assert "goal not set" in notes and "hyperparameterMetricTag not set" in notes
    assert "maxTrials not set" in notes and "scaleType NONE" in notes


# -- errors: each with its line ----------------------------------------------------------------


def test_error_string_names_file_line_field_and_what_is_valid() -> None:
    text = study(
        "    - parameterId: batch_size\n"
        "      discreteValueSpec: {values: [8, 16]}\n"
        "    - parameterId: learning_rate\n"
        "      doubleValueSpec:\n"
        "        minValue: 0\n"
        "        maxValue: 0.1\n"
        "      scaleType: UNIT_LOG_SCALE\n"
    )
    (error,) = errors_of(text)
    assert str(error) == (
        "hptuning.yaml:10: studySpec.parameters[1].doubleValueSpec.minValue: "
        "must be > 0 for UNIT_LOG_SCALE (got 0)"
    )


def test_malformed_yaml_reports_the_parsers_line_and_column() -> None:
    errors = errors_of((DATA / "bad_syntax.yaml").read_text())
    (error,) = errors
    assert (error.line, error.column) == (7, 1)
    assert "invalid YAML" in error.message and "started on line 6" in error.message
    assert str(error).startswith("hptuning.yaml:7:1: invalid YAML")


def test_tab_indentation_is_a_yaml_error_with_its_line() -> None:
    (error,) = errors_of("studySpec:\n  metrics:\n\t- metricId: x\n")
    assert error.line == 3 and "tab" in error.message.lower()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("foo: 1\n", "expected a hyperparameter tuning config"),
        ("hyperparameters:\n  goal: MAXIMIZE\n", "must be nested under trainingInput"),
        ("trainingInput:\n  scaleTier: BASIC\n", "not a tuning config"),
    ],
)
def test_files_that_are_not_tuning_configs(text: str, needle: str) -> None:
    errors = errors_of(text)
    assert any(needle in e.message for e in errors), errors


def test_unknown_keys_suggest_the_nearest_known_key() -> None:
    errors = errors_of(
        study(LR, extra="  algoritm: RANDOM_SEARCH\n", top="maxTrialCount: 4\nmaxTrails: 3\n")
    )
    assert where(errors) == [(8, "studySpec.algoritm"), (10, "maxTrails")]
    assert "did you mean algorithm?" in errors[0].message
    assert "maxTrialCount" in errors[1].message


def test_keys_of_the_other_format_get_a_precise_hint() -> None:
    errors = errors_of(study(LR, top="maxTrials: 4\n"))
    assert where(errors) == [(8, "maxTrials")]
    assert "Vertex AI calls it maxTrialCount" in errors[0].message
    errors = errors_of(study("    - parameterName: lr\n      type: DOUBLE\n"))
    assert where(errors) == [
        (6, "studySpec.parameters[0].parameterName"),
        (6, "studySpec.parameters[0]"),  # and so no value spec
        (7, "studySpec.parameters[0].type"),
    ]
    assert "Vertex AI calls it parameterId" in errors[0].message


def test_wrong_types_say_what_is_expected() -> None:
    text = study(
        "    - parameterId: learning_rate\n"
        "      doubleValueSpec: {minValue: small, maxValue: 0.1}\n",
        top="maxTrialCount: many\nparallelTrialCount: 1.5\nlabels: [a]\n",
    )
    errors = errors_of(text)
    assert where(errors) == [
        (7, "studySpec.parameters[0].doubleValueSpec.minValue"),
        (8, "maxTrialCount"),
        (9, "parallelTrialCount"),
        (10, "labels"),
    ]
    assert "must be a number (got 'small')" in errors[0].message
    assert "must be a whole number (got 'many')" in errors[1].message
    assert "must be a whole number (got 1.5)" in errors[2].message
    assert "must be a mapping" in errors[3].message


def test_enum_values_are_checked_with_a_suggestion() -> None:
    text = "studySpec:\n  metrics: [{metricId: val_loss, goal: minimize}]\n  parameters:\n" + LR
    text += "  algorithm: RANDOM\n"
    errors = errors_of(text)
    assert where(errors) == [(2, "studySpec.metrics[0].goal"), (6, "studySpec.algorithm")]
    assert "must be written in capitals: MINIMIZE" in errors[0].message
    assert "did you mean RANDOM_SEARCH?" in errors[1].message and "GRID_SEARCH" in errors[1].message


def test_min_greater_than_max() -> None:
    errors = errors_of(
        study(
            "    - parameterId: base_filters\n      integerValueSpec:\n        minValue: 64\n        maxValue: 16\n"
        )
    )
    assert where(errors) == [(8, "studySpec.parameters[0].integerValueSpec.minValue")]
    assert "must be ≤ maxValue 16 (got 64)" in errors[0].message


def test_log_scales_need_positive_values() -> None:
    text = study(
        "    - parameterId: a\n"
        "      doubleValueSpec: {minValue: -1, maxValue: 1}\n"
        "      scaleType: UNIT_REVERSE_LOG_SCALE\n"
        "    - parameterId: b\n"
        "      discreteValueSpec: {values: [0, 1, 2]}\n"
        "      scaleType: UNIT_LOG_SCALE\n"
    )
    errors = errors_of(text)
    assert where(errors) == [
        (7, "studySpec.parameters[0].doubleValueSpec.minValue"),
        (10, "studySpec.parameters[1].discreteValueSpec.values[0]"),
    ]
    assert "must be > 0 for UNIT_REVERSE_LOG_SCALE (got -1)" in errors[0].message


def test_metric_the_trainer_does_not_report() -> None:
    text = study(LR).replace("val_loss", "val_abs_rell")
    errors = errors_of(text, known_metrics=METRICS)
    assert where(errors) == [(3, "studySpec.metrics[0].metricId")]
    assert "does not report 'val_abs_rell'; did you mean val_abs_rel?" in errors[0].message
    # without a list of known metrics (a custom trainer) the tag is accepted
    assert hp.parse_hp_config(text).metric_id == "val_abs_rell"


def test_parameter_the_trainer_has_no_flag_for() -> None:
    flags = {"learning_rate", "batch_size", "base_filters"}
    text = study(
        LR + "    - parameterId: batch-size\n      discreteValueSpec: {values: [8]}\n"
        "    - parameterId: lr\n      doubleValueSpec: {minValue: 0.1, maxValue: 1}\n"
    )
    errors = errors_of(text, known_flags=flags)
    assert where(errors) == [(10, "studySpec.parameters[2].parameterId")]  # batch-size is fine
    assert "no flag --lr" in errors[0].message


def test_empty_categorical_and_repeated_categories() -> None:
    text = study(
        "    - parameterId: a\n      categoricalValueSpec: {values: []}\n"
        "    - parameterId: b\n      categoricalValueSpec:\n        values: [x, y, x]\n"
    )
    errors = errors_of(text)
    assert where(errors) == [
        (7, "studySpec.parameters[0].categoricalValueSpec.values"),
        (10, "studySpec.parameters[1].categoricalValueSpec.values[2]"),
    ]
    assert "at least one category" in errors[0].message and "repeats 'x'" in errors[1].message


def test_yaml_booleans_in_a_categorical_list_must_be_quoted() -> None:
    errors = errors_of(
        study("    - parameterId: augment\n      categoricalValueSpec: {values: [yes, no]}\n")
    )
    assert where(errors) == [
        (7, "studySpec.parameters[0].categoricalValueSpec.values[0]"),
        (7, "studySpec.parameters[0].categoricalValueSpec.values[1]"),
    ]
    assert "quote it ('yes')" in errors[0].message


def test_discrete_values_must_increase() -> None:
    errors = errors_of(
        study("    - parameterId: batch_size\n      discreteValueSpec: {values: [8, 32, 16]}\n")
    )
    assert where(errors) == [(7, "studySpec.parameters[0].discreteValueSpec.values[2]")]
    assert "increasing order" in errors[0].message


def test_duplicate_parameter_ids() -> None:
    errors = errors_of(study(LR + LR))
    assert where(errors) == [(8, "studySpec.parameters[1].parameterId")]
    assert "duplicate parameter id 'learning_rate' (first on line 6)" in errors[0].message


def test_duplicate_yaml_keys_are_caught() -> None:
    errors = errors_of(study(LR, top="maxTrialCount: 4\nmaxTrialCount: 8\n"))
    assert where(errors) == [(9, "maxTrialCount")]
    assert "duplicate key (first on line 8)" in errors[0].message


def test_value_spec_missing_or_doubled() -> None:
    text = study(
        "    - parameterId: a\n      scaleType: UNIT_LINEAR_SCALE\n"
        "    - parameterId: b\n"
        "      integerValueSpec: {minValue: 1, maxValue: 2}\n"
        "      discreteValueSpec: {values: [1, 2]}\n"
    )
    errors = errors_of(text)
    assert where(errors) == [
        (6, "studySpec.parameters[0]"),
        (10, "studySpec.parameters[1].discreteValueSpec"),
    ]
    assert (
        "needs one value spec" in errors[0].message
        and "exactly one value spec" in errors[1].message
    )


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (
            "maxTrialCount: 4\nparallelTrialCount: 5\n",
            [(9, "parallelTrialCount", "must be ≤ maxTrialCount 4")],
        ),
        (
            "maxTrialCount: 4\nmaxFailedTrialCount: 5\n",
            [(9, "maxFailedTrialCount", "must be ≤ maxTrialCount 4")],
        ),
        ("maxTrialCount: 0\n", [(8, "maxTrialCount", "must be ≥ 1 (got 0)")]),
        (
            "maxTrialCount: 4\nparallelTrialCount: 0\n",
            [(9, "parallelTrialCount", "must be ≥ 1 (got 0)")],
        ),
        (
            "maxTrialCount: 4\nmaxFailedTrialCount: -1\n",
            [(9, "maxFailedTrialCount", "must be ≥ 0")],
        ),
    ],
)
def test_trial_counts_must_add_up(top: str, expected: list[tuple[int, str, str]]) -> None:
    errors = errors_of(study(LR, top=top))
    assert [(e.line, e.field_path) for e in errors] == [(line, path) for line, path, _ in expected]
    for error, (_, _, needle) in zip(errors, expected, strict=True):
        assert needle in error.message


def test_an_unreadable_count_is_not_compared_with_others() -> None:
    errors = errors_of(study(LR, top="maxTrialCount: many\nparallelTrialCount: 3\n"))
    assert where(errors) == [(8, "maxTrialCount")]


def test_grid_search_rejects_a_double_range() -> None:
    errors = errors_of(study(LR, extra="  algorithm: GRID_SEARCH\n"))
    assert where(errors) == [(7, "studySpec.parameters[0].doubleValueSpec")]
    assert "GRID_SEARCH" in errors[0].message and "discreteValueSpec" in errors[0].message


def test_trial_job_spec_is_checked() -> None:
    text = study(
        LR,
        top=dedent("""\
        maxTrialCount: 4
        trialJobSpec:
          workerPoolSpecs:
            - replicaCount: 2
              machineSpec: {machineType: n1-standard-4, acceleratorType: NVIDIA_TESLA_T4}
              pythonPackageSpec: {executorImageUri: img, pythonModule: trainer.task, packageUris: []}
            - {}
            - machineSpec: {acceleratorCount: 2, machine_typ: x}
              containerSpec: {imageUri: img}
              pythonPackageSpec: {executorImageUri: img, pythonModule: m, packageUris: [gs://b/p.tar.gz]}
        """),
    )
    errors = errors_of(text)
    assert where(errors) == [
        (11, "trialJobSpec.workerPoolSpecs[0].replicaCount"),
        (12, "trialJobSpec.workerPoolSpecs[0].machineSpec"),
        (13, "trialJobSpec.workerPoolSpecs[0].pythonPackageSpec.packageUris"),
        (15, "trialJobSpec.workerPoolSpecs[2].machineSpec.machine_typ"),
        (15, "trialJobSpec.workerPoolSpecs[2].machineSpec"),
        (15, "trialJobSpec.workerPoolSpecs[2].machineSpec.acceleratorCount"),
        (17, "trialJobSpec.workerPoolSpecs[2].pythonPackageSpec"),  # containerSpec came first
    ]
    messages = [e.message for e in errors]
    assert "must be 1" in messages[0] and "needs acceleratorCount" in messages[1]
    assert "did you mean machineType?" in messages[3] and "needs machineType" in messages[4]
    assert "needs an acceleratorType" in messages[5] and "not both" in messages[6]


def test_every_error_in_a_file_is_reported_at_once() -> None:
    with pytest.raises(HpConfigInvalid) as caught:
        hp.load_hp_config(DATA / "bad_vertex.yaml", METRICS)
    assert where(caught.value.errors) == [
        (4, "studySpec.metrics[0].metricId"),
        (8, "studySpec.parameters[0].doubleValueSpec"),  # GRID_SEARCH with a DOUBLE
        (9, "studySpec.parameters[0].doubleValueSpec.minValue"),  # log scale, 0
        (14, "studySpec.parameters[1].integerValueSpec.minValue"),  # min > max
        (18, "studySpec.parameters[2].categoricalValueSpec.values"),  # empty
        (19, "studySpec.parameters[3].parameterId"),  # duplicate id
        (23, "studySpec.maxTrails"),
        (25, "parallelTrialCount"),
        (26, "maxFailedTrialCount"),
    ]
    assert str(caught.value).startswith("bad_vertex.yaml has 9 errors:\nbad_vertex.yaml:4: ")
    assert str(caught.value).endswith("nothing was submitted.")


def test_every_error_in_a_legacy_file_is_reported_at_once() -> None:
    with pytest.raises(HpConfigInvalid) as caught:
        hp.load_hp_config(DATA / "bad_legacy.yaml", METRICS)
    base = "trainingInput.hyperparameters"
    assert where(caught.value.errors) == [
        (4, f"{base}.goal"),
        (6, f"{base}.maxTrials"),
        (11, f"{base}.params[0].minValue"),  # INTEGER with 8.5
        (15, f"{base}.params[1].categoricalValues"),
        (18, f"{base}.params[2].minValue"),  # reverse log scale with -1
        (21, f"{base}.params[2].discreteValues"),  # not for DOUBLE
    ]


def test_unreadable_file_is_an_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(HpConfigInvalid) as caught:
        hp.load_hp_config(tmp_path / "missing.yaml")
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.title == "Invalid tuning config"
    assert str(caught.value.errors[0]).startswith("missing.yaml: cannot be read")


# -- grid, flags, cost -------------------------------------------------------------------------


def test_grid_points_walk_every_combination() -> None:
    spec = hp.load_hp_config(DATA / "vertex_grid.yaml", METRICS)
    points = hp.grid_points(spec)
    assert hp.grid_size(spec) == len(points) == 8
    assert points[0] == {"levels": 3, "learning_rate": 0.001, "lr_schedule": "constant"}
    assert points[1] == {"levels": 3, "learning_rate": 0.001, "lr_schedule": "cosine"}
    assert points[-1] == {"levels": 4, "learning_rate": 0.01, "lr_schedule": "cosine"}
    assert len({tuple(p.values()) for p in points}) == 8


def test_grid_points_refuse_doubles_and_huge_grids() -> None:
    spec = hp.load_hp_config(DATA / "vertex_study.yaml")
    assert hp.grid_size(spec) is None
    with pytest.raises(ValueError, match="learning_rate is a DOUBLE range"):
        hp.grid_points(spec)
    grid = hp.load_hp_config(DATA / "vertex_grid.yaml")
    with pytest.raises(ValueError, match="more than 5"):
        hp.grid_points(grid, limit=5)


def test_grid_smaller_than_the_trial_count_is_noted() -> None:
    text = study(
        "    - parameterId: levels\n      integerValueSpec: {minValue: 3, maxValue: 4}\n",
        extra="  algorithm: GRID_SEARCH\n",
        top="maxTrialCount: 10\n",
    )
    spec = hp.parse_hp_config(text)
    assert any("only 2 points" in n for n in spec.conversion_notes)


def test_format_flags_as_vertex_passes_them() -> None:
    flags = hp.format_flags(
        {
            "learning_rate": 0.01,
            "batch_size": 32.0,
            "levels": 4,
            "lr_schedule": "cosine",
            "tiny": 1e-05,
        }
    )
    assert flags == [
        "--learning_rate=0.01",
        "--batch_size=32",
        "--levels=4",
        "--lr_schedule=cosine",
        "--tiny=1e-05",
    ]


def test_worst_case_cost_and_time() -> None:
    spec = hp.load_hp_config(DATA / "vertex_study.yaml")  # 12 trials, 3 in parallel
    assert hp.worst_case_cost(spec, 1.5, 0.73) == pytest.approx(12 * 1.5 * 0.73)
    assert hp.worst_case_hours(spec, 1.5) == pytest.approx(4 * 1.5)
    with pytest.raises(ValueError, match="hourly_price"):
        hp.worst_case_cost(spec, 1.0, -2.0)


def test_summary_rows_show_the_study_before_submitting() -> None:
    spec = hp.load_hp_config(DATA / "legacy_hptuning.yaml")
    rows = dict(hp.summary_rows(spec, hours_per_trial=1.5, hourly_price=0.73))
    assert rows["Metric"] == "val_abs_rel (MINIMIZE)"
    assert rows["Trials"].startswith("12 at most, 3 in parallel")
    assert rows["Worst-case cost"] == "$13.14 (12 trials × 1.5 h × $0.73/h)"
    params = [value for label, value in hp.summary_rows(spec) if label == "Parameter"]
    assert params[0] == "learning_rate  DOUBLE  0.0001 … 0.01  log scale"
    assert params[3] == "lr_schedule  CATEGORICAL  {constant, cosine}"
    text = hp.summary_text(spec, 1.5, None)
    assert "Worst-case cost  price unknown" in text and "Notes:" in text


def test_bundled_trainer_lists_come_from_the_trainer_without_tensorflow() -> None:
    # a fresh interpreter: it proves no TensorFlow is loaded, and pytest's rootdir on sys.path
    # would let tests/trainer shadow the trainer package here
    code = (
        "import sys; from pathlib import Path; from tui.services import hpconfig as h; "
        "m = h.bundled_trainer_metrics(); f = h.bundled_trainer_flags(); "
        "assert {'val_abs_rel', 'val_rmse', 'val_delta1', 'val_loss'} <= m, m; "
        "assert {'learning_rate', 'batch_size', 'base_filters', 'gradient_weight'} <= f, f; "
        "h.load_hp_config(Path('trainer/hptuning.yaml'), m, f); "
        "h.load_hp_config(Path('tests/data/hp/legacy_hptuning.yaml'), m, f); "
        "assert not [n for n in sys.modules if n.startswith(('tensorflow', 'keras'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_the_trainers_own_example_file_is_valid() -> None:
    flags = {"learning_rate", "batch_size", "gradient_weight"}
    spec = hp.load_hp_config(ROOT / "trainer" / "hptuning.yaml", {"val_abs_rel"}, flags)
    assert spec.source_format == "vertex" and spec.goal == "MINIMIZE"
    assert [p.parameter_id for p in spec.parameters] == [
        "learning_rate",
        "batch_size",
        "gradient_weight",
    ]


def test_one_automated_stopping_spec_and_empty_messages_written_as_braces() -> None:
    errors = errors_of(
        study(LR, extra="  decayCurveStoppingSpec: {}\n  medianAutomatedStoppingSpec: {}\n")
    )
    assert where(errors) == [
        (9, "studySpec.medianAutomatedStoppingSpec")
    ]  # the second one in the file
    assert "decayCurveStoppingSpec is already given" in errors[0].message
    errors = errors_of(study(LR, extra="  decayCurveStoppingSpec:\n"))
    assert where(errors) == [(8, "studySpec.decayCurveStoppingSpec")]
    assert "write {} for an empty one" in errors[0].message
    spec = hp.parse_hp_config(study(LR, extra="  decayCurveStoppingSpec: {}\n"))
    assert spec.stopping_spec == {"decayCurveStoppingSpec": {}}
    assert hp.to_vertex_dict(spec)["studySpec"]["decayCurveStoppingSpec"] == {}


def test_one_metric_and_no_conditional_parameters() -> None:
    text = (
        "studySpec:\n  metrics:\n    - {metricId: val_loss, goal: MINIMIZE}\n"
        "    - {metricId: val_rmse, goal: MINIMIZE}\n  parameters:\n"
        "    - parameterId: a\n      discreteValueSpec: {values: [1, 2]}\n"
        "      conditionalParameterSpecs: []\n"
    )
    errors = errors_of(text)
    assert where(errors) == [
        (2, "studySpec.metrics"),
        (8, "studySpec.parameters[0].conditionalParameterSpecs"),
    ]
    assert "exactly one metric (got 2)" in errors[0].message


def test_yaml_merge_keys_are_resolved() -> None:
    text = study(
        "    - parameterId: levels\n      integerValueSpec: &range {minValue: 3, maxValue: 5}\n"
        "    - parameterId: base_filters\n      integerValueSpec: {<<: *range, maxValue: 6}\n"
    )
    spec = hp.parse_hp_config(text)
    assert [(p.min_value, p.max_value) for p in spec.parameters] == [(3, 5), (3, 6)]
