"""cloudpane's bundled trainer: monocular depth estimation, run as ``python -m trainer.task``.

This file stays import-light (no TensorFlow): the cloudpane TUI imports it to package the
trainer as a source distribution for Vertex AI's ``python_package_spec``.
"""

__version__ = "0.1.0"

# What the trainer needs beyond the TensorFlow that Vertex AI's prebuilt container provides.
REQUIREMENTS = (
    "cloudml-hypertune>=0.1.0.dev6",
    "google-cloud-storage>=2.10",
)
